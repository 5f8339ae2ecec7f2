// The record layer's AEAD keys on both backends: the addon (Node's own OpenSSL, keyed once, sealing
// into the caller's buffer) and node:crypto. Each must give the standards' own vectors, open what the
// other seals, refuse a changed byte, and the addon must refuse bad arguments with a typed error.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { AeadKey, aeadBackend, NO_TRAILER, setNativeAead } from '../src/record/aead.js';

interface Vector {
  source: string;
  algorithm: string;
  key: string;
  nonce: string;
  aad: string;
  plaintext: string;
  ciphertext: string;
  tag: string;
}
const { vectors } = JSON.parse(
  readFileSync(new URL('./fixtures/aead-vectors.json', import.meta.url), 'utf8'),
) as { vectors: Vector[] };
const hex = (s: string) => Buffer.from(s, 'hex');

const nativeLoads = setNativeAead(true);
const backends = nativeLoads ? [true, false] : [false];

/** An AEAD key made on one backend (the switch only decides for keys made after it). */
function keyOn(native: boolean, algorithm: string, key: Uint8Array, tagLength = 16): AeadKey {
  setNativeAead(native);
  try {
    const made = new AeadKey(algorithm, key, tagLength);
    assert.equal(made.isNative, native && tagLength === 16 && !algorithm.endsWith('-ccm'));
    return made;
  } finally {
    setNativeAead(true);
  }
}

test('the addon is built where CI runs (else the record layer says why it uses node:crypto)', (t) => {
  const backend = aeadBackend();
  if (!nativeLoads) {
    assert.equal(backend.backend, 'node:crypto');
    assert.match(backend.reason, /not built|turned off/);
    if (process.env.CI === 'true' && process.env.IOTSAFE_NATIVE_AEAD !== '0')
      assert.fail(`@iotsafe/aead-native did not load in CI: ${backend.reason}`);
    t.skip(`@iotsafe/aead-native: ${backend.reason}`);
    return;
  }
  assert.deepEqual(backend, { backend: 'aead-native', reason: 'loaded' });
});

for (const native of backends)
  for (const v of vectors)
    test(`${native ? 'addon' : 'node:crypto'}: ${v.algorithm}, ${v.source.split(',')[0]}`, () => {
      const key = keyOn(native, v.algorithm, hex(v.key));
      const plaintext = hex(v.plaintext);
      const out = Buffer.alloc(3 + plaintext.length + 16 + 2, 0xaa);
      key.sealInto(hex(v.nonce), hex(v.aad), plaintext, NO_TRAILER, out, 3);
      assert.equal(out.subarray(3, 3 + plaintext.length).toString('hex'), v.ciphertext);
      assert.equal(out.subarray(3 + plaintext.length, 3 + plaintext.length + 16).toString('hex'), v.tag);
      assert.deepEqual(
        [...out.subarray(0, 3), ...out.subarray(-2)],
        [0xaa, 0xaa, 0xaa, 0xaa, 0xaa],
        'nothing written outside',
      );
      const sealed = Buffer.concat([hex(v.ciphertext), hex(v.tag)]);
      assert.deepEqual(key.open(hex(v.nonce), hex(v.aad), sealed), plaintext);
      for (const at of [0, plaintext.length - 1, sealed.length - 1]) {
        const changed = Buffer.from(sealed);
        changed[at]! ^= 0x01;
        assert.equal(key.open(hex(v.nonce), hex(v.aad), changed), undefined, `byte ${at} changed`);
      }
      const otherAad = hex(v.aad);
      otherAad[0]! ^= 0x80;
      assert.equal(key.open(hex(v.nonce), otherAad, sealed), undefined, 'other additional data');
    });

test('each backend opens what the other sealed, with the TLS 1.3 trailer byte, at every length', () => {
  for (const algorithm of ['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305']) {
    const raw = randomBytes(algorithm === 'aes-128-gcm' ? 16 : 32);
    const keys = backends.map((native) => keyOn(native, algorithm, raw));
    for (const length of [0, 1, 15, 16, 17, 255, 4096, 16_384]) {
      const content = randomBytes(length);
      const nonce = randomBytes(12);
      const aad = randomBytes(5);
      const sealed = keys.map((key) => {
        const out = Buffer.alloc(length + 1 + 16);
        key.sealInto(nonce, aad, content, 0x17, out, 0);
        return out;
      });
      for (const out of sealed) assert.deepEqual(out, sealed[0], `${algorithm}, ${length} bytes: same bytes`);
      for (const key of keys) {
        const inner = key.open(nonce, aad, sealed[0]!);
        assert.deepEqual(
          inner,
          Buffer.concat([content, Buffer.from([0x17])]),
          `${algorithm}, ${length} bytes`,
        );
      }
    }
  }
});

test('a key seals record after record with a new nonce each (the context is re-used, not its nonce)', () => {
  const raw = randomBytes(16);
  const keys = backends.map((native) => keyOn(native, 'aes-128-gcm', raw));
  const content = randomBytes(100);
  for (const key of keys) {
    const out = [0, 1].map((n) => {
      const nonce = Buffer.alloc(12);
      nonce[11] = n;
      const sealed = Buffer.alloc(117);
      key.sealInto(nonce, Buffer.alloc(0), content, NO_TRAILER, sealed, 0);
      return sealed;
    });
    assert.notDeepEqual(out[0], out[1]);
    const again = Buffer.alloc(117);
    const nonce = Buffer.alloc(12);
    key.sealInto(nonce, Buffer.alloc(0), content, NO_TRAILER, again, 0);
    assert.deepEqual(again, out[0], 'the same nonce gives the same record');
  }
});

test('CCM (DTLS CCM_8) stays on node:crypto, with its 8-byte tag', () => {
  const raw = randomBytes(16);
  const key = keyOn(true, 'aes-128-ccm', raw, 8);
  const nonce = randomBytes(12);
  const out = Buffer.alloc(40 + 8);
  const content = randomBytes(40);
  key.sealInto(nonce, Buffer.alloc(13), content, NO_TRAILER, out, 0);
  assert.deepEqual(key.open(nonce, Buffer.alloc(13), out), content);
  out[47]! ^= 1;
  assert.equal(key.open(nonce, Buffer.alloc(13), out), undefined);
});

test('the addon refuses bad arguments with a typed error and writes nothing', (t) => {
  if (!nativeLoads) {
    t.skip('@iotsafe/aead-native is not built');
    return;
  }
  const addon = createRequire(import.meta.url)('@iotsafe/aead-native') as {
    createKey(algorithm: string, key: Uint8Array, encrypt: boolean): object;
    seal(...args: unknown[]): number;
    open(...args: unknown[]): boolean;
  };
  const code = (code: string) => (error: unknown) => (error as { code?: string }).code === code;
  assert.throws(() => addon.createKey('aes-128-gcm', new Uint8Array(15), true), code('ERR_AEAD_KEY_LENGTH'));
  assert.throws(() => addon.createKey('aes-128-cbc', new Uint8Array(16), true), code('ERR_AEAD_ALGORITHM'));
  assert.throws(
    () => addon.createKey('no-such-cipher', new Uint8Array(16), true),
    code('ERR_AEAD_ALGORITHM'),
  );
  assert.throws(
    () => addon.createKey('aes-128-gcm', 'key' as unknown as Uint8Array, true),
    code('ERR_AEAD_ARGUMENT'),
  );
  const seal = addon.createKey('aes-128-gcm', new Uint8Array(16), true);
  const open = addon.createKey('aes-128-gcm', new Uint8Array(16), false);
  const nonce = new Uint8Array(12);
  const out = Buffer.alloc(40, 0xaa);
  assert.throws(
    () => addon.seal(seal, nonce, new Uint8Array(0), new Uint8Array(30), -1, out, 0),
    code('ERR_AEAD_OUT_OF_RANGE'),
  );
  assert.throws(
    () => addon.seal(seal, nonce, new Uint8Array(0), new Uint8Array(8), -1, out, 30),
    code('ERR_AEAD_OUT_OF_RANGE'),
  );
  assert.throws(
    () => addon.seal(seal, nonce, new Uint8Array(0), new Uint8Array(8), -1, out, -1),
    code('ERR_AEAD_OUT_OF_RANGE'),
  );
  assert.deepEqual(out, Buffer.alloc(40, 0xaa), 'nothing written by a refused seal');
  assert.throws(
    () => addon.seal(open, nonce, new Uint8Array(0), new Uint8Array(8), -1, out, 0),
    code('ERR_AEAD_ARGUMENT'),
  );
  assert.throws(
    () => addon.seal({}, nonce, new Uint8Array(0), new Uint8Array(8), -1, out, 0),
    code('ERR_AEAD_ARGUMENT'),
  );
  assert.throws(
    () => addon.seal(seal, new Uint8Array(8), new Uint8Array(0), new Uint8Array(8), -1, out, 0),
    code('ERR_AEAD_ARGUMENT'),
  );
  assert.throws(
    () => addon.seal(seal, nonce, new Uint8Array(0), new Uint16Array(4), -1, out, 0),
    code('ERR_AEAD_ARGUMENT'),
  );
  assert.throws(
    () => addon.open(open, nonce, new Uint8Array(0), new Uint8Array(15), out),
    code('ERR_AEAD_OUT_OF_RANGE'),
  );
  assert.throws(
    () => addon.open(open, nonce, new Uint8Array(0), new Uint8Array(60), out),
    code('ERR_AEAD_OUT_OF_RANGE'),
  );
  assert.equal(
    addon.open(open, nonce, new Uint8Array(0), new Uint8Array(16), out),
    false,
    'a zero tag does not verify',
  );
  // a key still works after refusing
  const fine = Buffer.alloc(24);
  assert.equal(addon.seal(seal, nonce, new Uint8Array(0), new Uint8Array(8), -1, fine, 0), 24);
  assert.equal(addon.open(open, nonce, new Uint8Array(0), fine, Buffer.alloc(8)), true);
});
