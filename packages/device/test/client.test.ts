// The IoTSafe client against every real-applet personality of the virtual SIM (the client × applet
// matrix), plus channel/AID fallback, session recovery, errors and trace redaction.
import assert from 'node:assert/strict';
import { createECDH, createPublicKey, verify } from 'node:crypto';
import { describe, test } from 'node:test';
import { type AppletNotFoundError, byId, byLabel, IoTSafe, MemoryTransport } from '@iotsafe/device';
import {
  bytesToHex,
  ecdsaRawToDer,
  hexToBytes,
  hkdfExtract,
  pskPremaster,
  type StatusWordError,
  tls12Prf,
  utf8,
} from '@iotsafe/protocol';
import { CardRuntime, PERSONALITIES, VirtualSim } from '@iotsafe/sim';
import { TEST_PROFILE } from '../../../test/helpers/cards.js';
import { encodeP256Spki } from '../../../test/helpers/crypto-bridge.js';

const PSK = hexToBytes('0102030405060708090A0B0C0D0E0F10');

/** What a deployment must configure for a card, as wolfSSL's IOTSAFE_* flags do: here the 9B length form. */
const CLIENT_SETTINGS: Record<string, Parameters<typeof IoTSafe.connect>[1]> = {
  zariot: { fullTextLength: 'fixed3' },
  kigen: { fullTextLength: 'fixed3' },
};

async function connect(personality: string, options: Parameters<typeof IoTSafe.connect>[1] = {}) {
  const sim = VirtualSim.inMemory(TEST_PROFILE, { personality });
  const transport = new MemoryTransport(sim.card);
  const client = await IoTSafe.connect(transport, { ...CLIENT_SETTINGS[personality], ...options });
  return { sim, transport, client };
}

function nodeVerify(point: Uint8Array, message: Uint8Array, signature: Uint8Array, hash: string): boolean {
  const key = createPublicKey({ key: Buffer.from(encodeP256Spki(point)), format: 'der', type: 'spki' });
  return verify(hash, message, key, Buffer.from(ecdsaRawToDer(signature)));
}

for (const personality of Object.keys(PERSONALITIES)) {
  describe(`client × ${personality}`, () => {
    test('discovery: application info, object list, object info', async () => {
      const { client, sim } = await connect(personality);
      const info = await client.applicationInfo();
      assert.equal(info.maxSessions, sim.personality.maxSessions);
      const objects = await client.listObjects();
      assert.equal(objects.length, TEST_PROFILE.containers.length);
      assert.deepEqual(
        objects.map((o) => o.label),
        TEST_PROFILE.containers.map((c) => c.label),
      );
      const file = await client.objectInfo('file', byLabel('device-certificate'));
      assert.equal(file.fileSize, 260);
      assert.equal(bytesToHex(file.id!), '02');
    });

    test('READ FILE across chunks, with the default and a small Le', async () => {
      const expected = TEST_PROFILE.containers.find((c) => c.id === '02') as { content: { hex: string } };
      for (const readChunk of [256, 50]) {
        const { client } = await connect(personality, { readChunk });
        assert.equal(bytesToHex(await client.readFile(byId('02'))), expected.content.hex.toUpperCase());
      }
    });

    test('GET RANDOM of 16 and 256 bytes', async () => {
      const { client } = await connect(personality);
      assert.equal((await client.random(16)).length, 16);
      assert.equal((await client.random(256)).length, 256);
    });

    test('key generation, public key read back, signatures in every mode and hash verified by node:crypto', async () => {
      const { client } = await connect(personality);
      const pair = await client.generateKeyPair(byId('01'));
      assert.equal(bytesToHex(await client.readPublicKey(pair.publicKey)), bytesToHex(pair.point));
      const message = utf8(`a message of some length for ${personality} `.repeat(9));
      for (const hash of ['sha256', 'sha384', 'sha512'] as const) {
        for (const mode of ['padAndSign', 'fullText', 'lastBlock'] as const) {
          const signature = await client.sign(pair.privateKey, { message }, { hash, mode });
          assert.equal(signature.length, 64);
          assert.ok(nodeVerify(pair.point, message, signature, hash), `${mode} ${hash}`);
        }
      }
      const byLabelSig = await client.sign(byLabel('device-key'), { message });
      assert.ok(nodeVerify(pair.point, message, byLabelSig, 'sha256'));
    });

    test('VERIFY SIGNATURE: true for a good signature, false (6D01) for a tampered one', async () => {
      const { client } = await connect(personality);
      const message = utf8('verify me');
      const signature = await client.sign(byId('01'), { message });
      assert.equal(await client.verify(byId('01'), { message }, signature), true);
      signature[5]! ^= 0x40;
      assert.equal(await client.verify(byId('01'), { message }, signature), false);
    });

    test('PUT PUBLIC KEY then COMPUTE DH equals the peer side', async () => {
      const { client } = await connect(personality);
      const ours = await client.generateKeyPair(byId('04'));
      const peer = createECDH('prime256v1');
      peer.generateKeys();
      await client.putPublicKey(byId('05'), new Uint8Array(peer.getPublicKey()));
      const secret = await client.computeDH(byId('04'), byId('05'));
      assert.equal(bytesToHex(secret), bytesToHex(peer.computeSecret(ours.point)));
    });

    test('COMPUTE PRF in modes 00, 01, 02 and COMPUTE HKDF in modes 00, 01', async () => {
      const { client, sim } = await connect(personality);
      const seed = new Uint8Array(64).fill(9);
      const general = await client.prf({
        mode: 'general',
        secret: new Uint8Array(48).fill(1),
        label: 'key expansion',
        seed,
        length: 72,
      });
      assert.equal(
        bytesToHex(general),
        bytesToHex(
          tls12Prf(new Uint8Array(48).fill(1), new Uint8Array([...utf8('key expansion'), ...seed]), 72),
        ),
      );
      const master = await client.prf({
        mode: 'psk',
        secret: byLabel('psk'),
        label: 'master secret',
        seed,
        length: 48,
      });
      assert.equal(
        bytesToHex(master),
        bytesToHex(tls12Prf(pskPremaster(PSK), new Uint8Array([...utf8('master secret'), ...seed]), 48)),
      );
      const other = new Uint8Array(32).fill(3);
      const ecdhePsk = await client.prf({
        mode: 'ecdhePsk',
        secret: byId('10'),
        otherSecret: other,
        label: 'master secret',
        seed,
        length: 48,
      });
      assert.equal(ecdhePsk.length, 48);
      const salt = new Uint8Array(32);
      const prk = await client.hkdfExtract({ secret: byLabel('hkdf-only'), salt, hash: 'sha384' });
      assert.equal(bytesToHex(prk), bytesToHex(hkdfExtract('sha384', salt, new Uint8Array(32).fill(0xaa))));
      const emptySalt = client.hkdfExtract({ ikm: new Uint8Array(32), salt: new Uint8Array(0) });
      if (sim.personality.hkdfRejectsEmptySalt)
        await assert.rejects(emptySalt, (e: StatusWordError) => e.sw === 0x6a80);
      else assert.equal((await emptySalt).length, 32);
    });

    test('refusals surface as StatusWordError with the SW and a readable reason', async () => {
      const { client } = await connect(personality);
      await assert.rejects(
        client.readFile(byId('55')),
        (e: StatusWordError) => e.sw === 0x6a82 && /not found/.test(e.message),
      );
      await assert.rejects(
        client.sign(byId('0B'), { message: utf8('x') }),
        (e: StatusWordError) => e.sw === 0x6985,
      );
      await assert.rejects(client.computeDH(byId('08'), byId('06')), (e: StatusWordError) => e.sw === 0x6985);
    });
  });
}

describe('session hygiene', () => {
  test('a sign session left open by a crashed process is closed before the next signature', async () => {
    const { client, transport } = await connect('thales-mvp');
    // What a crash leaves behind: INIT open on the client's session number, never closed.
    const open = hexToBytes(`8${client.channel}2A00010D840101A1010391020001920104`);
    assert.equal(bytesToHex(await transport.transmit(open)), '9000');
    const signature = await client.sign(byId('01'), { message: utf8('after a crash') });
    assert.equal(signature.length, 64);
  });
  test('sessions are closed after use, also when the signature fails', async () => {
    const { client } = await connect('thales-mvp');
    await assert.rejects(
      client.sign(byId('01'), { digest: new Uint8Array(31) }),
      (e: StatusWordError) => e.sw === 0x6a80,
    );
    assert.equal((await client.sign(byId('01'), { digest: new Uint8Array(32) })).length, 64);
  });
});

describe("sessionEnd: 'lastUpdate'", () => {
  const digest = new Uint8Array(32).fill(7);
  async function apdusFor(client: IoTSafe, run: () => Promise<unknown>): Promise<number> {
    const before = client.apduCount;
    await run();
    return client.apduCount - before;
  }
  test('an applet that ends sessions at the final UPDATE: every signature and key put is one APDU shorter', async () => {
    const { client } = await connect('thales-mvp', { sessionEnd: 'lastUpdate' });
    for (let i = 0; i < 4; i++) {
      assert.equal(await apdusFor(client, () => client.sign(byId('01'), { digest })), 2);
      const peer = createECDH('prime256v1');
      assert.equal(
        await apdusFor(client, () => client.putPublicKey(byId('05'), new Uint8Array(peer.generateKeys()))),
        2,
      );
    }
    assert.equal(client.sessionEnding, 'lastUpdate');
    // close() ends the two sessions left open, then the channel.
    assert.equal(await apdusFor(client, () => client.close()), 3);
  });
  test('a card that keeps them open: the refused open closes them, and the client closes from then on', async () => {
    const { client } = await connect('kigen', { sessionEnd: 'lastUpdate' });
    const point = (await client.generateKeyPair(byId('04'))).point;
    // Kigen runs T=0: each signature answer comes with a GET RESPONSE.
    assert.equal(await apdusFor(client, () => client.sign(byId('01'), { digest })), 3);
    const peer = createECDH('prime256v1');
    await client.putPublicKey(byId('05'), new Uint8Array(peer.generateKeys()));
    // Open refused (6985), both sessions left open are closed, open again, UPDATE (+ GET RESPONSE), and
    // this signature's own session is closed: the client has switched to 'close'.
    let signature: Uint8Array = new Uint8Array();
    assert.equal(
      await apdusFor(client, async () => {
        signature = await client.sign(byId('01'), { digest });
      }),
      7,
    );
    assert.equal(signature.length, 64);
    assert.equal(client.sessionEnding, 'close');
    assert.equal(await apdusFor(client, () => client.sign(byId('01'), { digest })), 4);
    // The key put under the old mode is in place: DH with it matches the host's.
    const secret = await client.computeDH(byId('04'), byId('05'));
    assert.equal(bytesToHex(secret), bytesToHex(new Uint8Array(peer.computeSecret(point))));
  });
});

describe('connection', () => {
  test('falls back to the basic channel when MANAGE CHANNEL is refused', async () => {
    const sim = VirtualSim.inMemory(TEST_PROFILE);
    const noChannels = {
      transmit: (c: Uint8Array) => (c[1] === 0x70 ? Uint8Array.of(0x6a, 0x81) : sim.card.transmit(c)),
    };
    const client = await IoTSafe.connect(new MemoryTransport(noChannels));
    assert.equal(client.channel, 0);
    assert.equal((await client.random(8)).length, 8);
  });
  test('tries the next AID when the first is absent', async () => {
    const sim = VirtualSim.inMemory(TEST_PROFILE);
    const gsmaAbsent = {
      transmit: (c: Uint8Array) =>
        c[1] === 0xa4 && bytesToHex(c).endsWith('A0000005590010')
          ? Uint8Array.of(0x6a, 0x82)
          : sim.card.transmit(c),
    };
    const client = await IoTSafe.connect(new MemoryTransport(gsmaAbsent));
    assert.equal(bytesToHex(client.aid), 'A00000003053F12401770101495341');
  });
  test('a card without the applet gives AppletNotFoundError and its channel is closed', async () => {
    const card = new CardRuntime({ protocol: 'T=0', channels: 4, implicitChannelOpen: false });
    await assert.rejects(
      IoTSafe.connect(new MemoryTransport(card)),
      (e: AppletNotFoundError) => e.sw === 0x6a82 && /tried/.test(e.message),
    );
    assert.deepEqual(card.openChannels(), [0]);
  });
  test('reads a file without GET DATA C3 (broken applets): until the end, cut to the DER length', async () => {
    const sim = VirtualSim.inMemory(TEST_PROFILE);
    const noFileInfo = {
      transmit: (c: Uint8Array) =>
        c[1] === 0xcb && c[2] === 0xc3 ? Uint8Array.of(0x6a, 0x86) : sim.card.transmit(c),
    };
    const client = await IoTSafe.connect(new MemoryTransport(noFileInfo), { readChunk: 100 });
    const content = await client.readFile(byId('02'));
    assert.equal(content.length, 260);
  });
  test('GET RESPONSE with the class of the command (8N), as ZARIOT and Kigen clients send', async () => {
    const { client } = await connect('zariot', { getResponseClass: 'same' });
    assert.equal((await client.sign(byId('01'), { message: utf8('x') })).length, 64);
  });
  test('close() releases the logical channel', async () => {
    const { client, sim } = await connect('reference');
    assert.deepEqual(sim.card.openChannels(), [0, 1]);
    await client.close();
    assert.deepEqual(sim.card.openChannels(), [0]);
  });
});

describe('data a real card mis-encodes', () => {
  test('the Thales MVP object list (tag 92 declares 2 bytes, carries 1): read, and the trace says so', async () => {
    const lines: string[] = [];
    const { client, sim } = await connect('thales-mvp', { trace: (l) => lines.push(l) });
    const objects = await client.listObjects();
    assert.equal(objects.length, sim.containers().length);
    const keys = objects.filter((o) => o.objectClass === 'privateKey' || o.objectClass === 'publicKey');
    assert.ok(keys.length > 0 && keys.every((o) => o.signatureAlgorithms === 0x04 && o.hashAlgorithms));
    assert.ok(client.recoveries.length >= keys.length);
    assert.ok(client.recoveries.every((n) => n.kind === 'declaredLengthOverrun' && n.tag === 0x92));
    const notes = lines.filter((l) => l.startsWith('! '));
    assert.equal(notes.length, client.recoveries.length);
    assert.match(
      notes[0]!,
      /recovered .*GET DATA \(object list\).*tag 92 declares 2 bytes but carries 1 byte/,
    );
    assert.equal((await client.objectInfo('privateKey', byId('01'))).signatureAlgorithms, 0x04);
  });
});

describe('APDU trace', () => {
  test('one line per command and response, with secrets redacted', async () => {
    const lines: string[] = [];
    const { client } = await connect('zariot', { trace: (l) => lines.push(l) });
    const secret = new Uint8Array(48).fill(0xd7);
    const out = await client.prf({
      mode: 'general',
      secret,
      label: 'key expansion',
      seed: new Uint8Array(32),
      length: 32,
    });
    const dump = lines.join('\n');
    assert.ok(lines.some((l) => l.startsWith('→ ') && l.includes('48 00 00')));
    assert.ok(!dump.replace(/ /g, '').includes('D7D7D7D7'), 'the PRF secret must not appear');
    assert.ok(
      !dump.replace(/ /g, '').includes(bytesToHex(out).slice(0, 16)),
      'the PRF output must not appear, even in GET RESPONSE',
    );
    assert.match(dump, /D1 30 <48 bytes redacted>/);
    assert.match(dump, /<32 bytes redacted> 9000/);
  });
});
