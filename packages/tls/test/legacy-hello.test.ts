// The legacy ClientHello profile byte for byte against a real SIM card's (pySim-smpp2sim), and the
// client's checks of a TLS 1.0–1.2 ServerHello answering it, against a scripted server: the
// max_fragment_length echo (RFC 6066 §4), extensions not offered, versions and suites out of range,
// the downgrade sentinel (RFC 8446 §4.1.3); and the record layer cutting and enforcing the limit.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { type ConnectOptions, connect, SoftwareKeyOps, TlsError } from '@iotsafe/tls';
import { scp80Expected } from '../../../test/helpers/vectors.js';
import { CONTENT_TYPE, DOWNGRADE_TLS11, TLS10, TLS12 } from '../src/constants.js';
import { marshalServerHello, type ServerHello } from '../src/hello.js';
import { StreamRecordLayer } from '../src/record/stream-layer.js';

const PSK = { identity: Buffer.from('card'), key: Buffer.alloc(16, 7) };
/** The real card's options: what the SCP81 agent's real-card profile passes. */
const REAL_CARD: ConnectOptions = {
  cipherSuites: [0x00ae, 0x008c, 0x008b, 0x00b0, 0x002c],
  minVersion: 'TLSv1',
  maxVersion: 'TLSv1.2',
  maxFragmentLength: 512,
  legacyClientHello: { recordVersion: 0x0301, emptySessionId: true, minimalExtensions: true },
};

/** A server that reads the ClientHello record and answers with `reply` (or nothing); returns what came. */
async function scripted(reply?: (hello: Buffer) => Uint8Array) {
  const received: Buffer[] = [];
  let helloRead: (hello: Buffer) => void = () => {};
  const firstRecord = new Promise<Buffer>((resolve) => {
    helloRead = resolve;
  });
  let answered = false;
  const server = net.createServer((socket) => {
    socket.on('data', (d) => {
      received.push(d);
      const all = Buffer.concat(received);
      if (answered || all.length < 5 || all.length < 5 + all.readUInt16BE(3)) return;
      answered = true;
      helloRead(all);
      if (reply) socket.write(reply(all));
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, firstRecord, close: () => server.close() };
}

const record = (type: number, version: number, body: Uint8Array) => {
  const out = Buffer.alloc(5 + body.length);
  out[0] = type;
  out.writeUInt16BE(version, 1);
  out.writeUInt16BE(body.length, 3);
  out.set(body, 5);
  return out;
};
const serverHelloDone = Uint8Array.of(14, 0, 0, 0);

function serverHello(fields: Partial<ServerHello>): Uint8Array {
  const random = Buffer.alloc(32, 0x5a);
  return marshalServerHello({
    legacyVersion: TLS12,
    random,
    sessionId: new Uint8Array(0),
    cipherSuite: 0x008c,
    ...fields,
  });
}

/** Connects with `options`, the scripted server answering ServerHello ‖ ServerHelloDone; the error. */
async function failureAgainst(options: ConnectOptions, hello: Partial<ServerHello>): Promise<TlsError> {
  const version = hello.legacyVersion ?? TLS12;
  const server = await scripted(() =>
    record(CONTENT_TYPE.HANDSHAKE, version, Buffer.concat([serverHello(hello), serverHelloDone])),
  );
  try {
    const socket = connect({
      host: '127.0.0.1',
      port: server.port,
      keyOps: new SoftwareKeyOps({ psk: PSK }),
      ...options,
    });
    const [error] = (await once(socket, 'error').catch((e) => [e])) as [Error];
    socket.destroy();
    assert.ok(error instanceof TlsError, String(error));
    return error;
  } finally {
    server.close();
  }
}

describe('the real card profile', () => {
  test("ClientHello byte for byte as the real card's (pySim-smpp2sim), the random aside", async () => {
    const server = await scripted();
    try {
      const socket = connect({
        host: '127.0.0.1',
        port: server.port,
        keyOps: new SoftwareKeyOps({ psk: PSK }),
        ...REAL_CARD,
      });
      socket.on('error', () => {});
      const sent = await server.firstRecord;
      socket.destroy();
      const expected = Buffer.from(
        scp80Expected<{ channel_data: string }>('scp81-real-card-clienthello').channel_data,
        'hex',
      );
      assert.equal(sent.length, expected.length);
      // record header 5, handshake header 4, client_version 2: the random is bytes 11–42.
      assert.deepEqual(sent.subarray(0, 11), expected.subarray(0, 11));
      assert.deepEqual(sent.subarray(43), expected.subarray(43));
      assert.equal(sent.subarray(43).toString('hex'), '00000a00ae008c008b00b0002c010000050001000101');
    } finally {
      server.close();
    }
  });

  test('the server echoing another max_fragment_length is illegal_parameter', async () => {
    const error = await failureAgainst(REAL_CARD, { maxFragmentLength: 2 });
    assert.equal(error.alert, 'illegal_parameter');
  });

  test('max_fragment_length or extended_master_secret in the ServerHello unasked is unsupported_extension', async () => {
    const { maxFragmentLength: _, ...noMfl } = REAL_CARD;
    assert.equal((await failureAgainst(noMfl, { maxFragmentLength: 1 })).alert, 'unsupported_extension');
    assert.equal(
      (await failureAgainst(REAL_CARD, { extendedMasterSecret: true })).alert,
      'unsupported_extension',
    );
  });

  test('an AEAD suite chosen with TLS 1.0 is illegal_parameter', async () => {
    const options = { ...REAL_CARD, cipherSuites: [0x00a8, 0x008c] };
    const error = await failureAgainst(options, { legacyVersion: TLS10, cipherSuite: 0x00a8 });
    assert.equal(error.alert, 'illegal_parameter');
  });

  test('TLS 1.0 when minVersion is TLS 1.2 is protocol_version', async () => {
    const error = await failureAgainst({ ...REAL_CARD, minVersion: 'TLSv1.2' }, { legacyVersion: TLS10 });
    assert.equal(error.alert, 'protocol_version');
  });

  test("TLS 1.0 with the TLS 1.2 server's downgrade sentinel is illegal_parameter (RFC 8446 §4.1.3)", async () => {
    const random = Buffer.alloc(32, 0x5a);
    DOWNGRADE_TLS11.copy(random, 24);
    const error = await failureAgainst(REAL_CARD, { legacyVersion: TLS10, random });
    assert.equal(error.alert, 'illegal_parameter');
  });

  test('options the key operations cannot serve fail before anything is sent', async () => {
    const noLegacyPrf = new SoftwareKeyOps({ psk: PSK });
    const { legacyMasterSecret: _, ...provider } = noLegacyPrf.psk!;
    const keyOps = Object.assign(Object.create(noLegacyPrf), { psk: provider });
    for (const options of [
      { ...REAL_CARD, maxVersion: 'TLSv1.1' as const, keyOps },
      { ...REAL_CARD, maxFragmentLength: 777 as 512, keyOps: noLegacyPrf },
    ]) {
      const socket = connect({ host: '127.0.0.1', port: 9, ...options });
      const [error] = await once(socket, 'error').catch((e) => [e]);
      assert.ok(error instanceof TlsError && error.alert === 'internal_error', String(error));
    }
  });
});

describe('max_fragment_length in the record layer', () => {
  test('records are cut at the negotiated size; a longer one received is record_overflow', () => {
    const layer = new StreamRecordLayer(TLS10);
    layer.limitFragments(512);
    const sealed = layer.seal(CONTENT_TYPE.APPLICATION_DATA, Buffer.alloc(1300));
    const lengths: number[] = [];
    for (let at = 0; at < sealed.length; at += 5 + sealed.readUInt16BE(at + 3))
      lengths.push(sealed.readUInt16BE(at + 3));
    assert.deepEqual(lengths, [512, 512, 276]);
    const reader = new StreamRecordLayer(TLS10);
    reader.limitFragments(512);
    reader.push(record(CONTENT_TYPE.HANDSHAKE, TLS10, Buffer.alloc(513)));
    assert.throws(
      () => reader.next(),
      (e) => e instanceof TlsError && e.alert === 'record_overflow',
    );
  });
});
