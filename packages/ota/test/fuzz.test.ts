// Seeded fuzzing of what reaches the OTA server from outside: SMPP PDUs from an SMSC (decoded alone,
// and as a byte stream on a bound link) and JSON bodies on the HTTP API. Every outcome is a value or
// a typed error: SmppPduError for bytes that are not a PDU, a command_status for a bad field, a 4xx
// JSON error for a bad body; never a crash, a hang or a 500. A failure prints its seed.
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import {
  buildOtaApi,
  checkBind,
  checkSubmitSm,
  decodePdu,
  OtaServer,
  OtaStore,
  SmppError,
  SmppLink,
  SmppPduError,
  type SmsLink,
  shortMessageOf,
} from '@iotsafe/ota';
import smpp from 'smpp';
import { SeededRandom } from '../../../test/helpers/random.js';
import { ICCID, KIC, KID, MSISDN, STORAGE_KEY } from './rig.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261101);

const sms = {
  source_addr_ton: 1,
  source_addr_npi: 1,
  source_addr: MSISDN,
  destination_addr: '1234',
  esm_class: 0x40,
  protocol_id: 0x7f,
  data_coding: 0xf6,
  short_message: Buffer.from('027100000b0ab0000000000000000002', 'hex'),
};
const seeds = (): Buffer[] => [
  new smpp.PDU('deliver_sm', { ...sms, sequence_number: 9 }).toBuffer(),
  new smpp.PDU('submit_sm', { ...sms, sequence_number: 10 }).toBuffer(),
  new smpp.PDU('submit_sm_resp', { message_id: 'abc', sequence_number: 1 }).toBuffer(),
  new smpp.PDU('bind_transceiver', { system_id: 'a', password: 'b', interface_version: 0x34 }).toBuffer(),
  new smpp.PDU('bind_transceiver_resp', { system_id: 'smsc', sequence_number: 1 }).toBuffer(),
  new smpp.PDU('enquire_link', { sequence_number: 3 }).toBuffer(),
  new smpp.PDU('generic_nack', { command_status: 3, sequence_number: 4 }).toBuffer(),
  new smpp.PDU('unbind', { sequence_number: 5 }).toBuffer(),
];

/** One mutation of a PDU: flipped bits, a byte set, cut or grown, with its command_length kept or not. */
function mutate(random: SeededRandom, pdu: Buffer): Buffer {
  let bytes = Buffer.from(pdu);
  const rounds = 1 + random.int(4);
  for (let i = 0; i < rounds; i++) {
    switch (random.int(6)) {
      case 0:
        bytes[random.int(bytes.length)]! ^= 1 << random.int(8);
        break;
      case 1:
        bytes[random.int(bytes.length)] = random.pick([0x00, 0x01, 0x7f, 0x80, 0xff, random.int(256)]);
        break;
      case 2:
        bytes = bytes.subarray(0, random.int(bytes.length + 1));
        break;
      case 3:
        bytes = Buffer.concat([bytes, Buffer.from(random.bytes(random.int(40)))]);
        break;
      case 4: // a field boundary moved: a byte inserted
        {
          const at = random.int(bytes.length + 1);
          bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([random.int(256)]), bytes.subarray(at)]);
        }
        break;
      default:
        if (bytes.length >= 4)
          bytes.writeUInt32BE(random.pick([0, 4, 15, 16, bytes.length + 3, 0xffffffff]), 0);
    }
  }
  if (bytes.length >= 4 && random.int(3) > 0) bytes.writeUInt32BE(bytes.length, 0); // framing kept
  return bytes;
}

describe('fuzz: SMPP from the SMSC', () => {
  test('100,000 mutated PDUs decode or throw SmppPduError; a decoded one is checked without throwing', () => {
    const random = new SeededRandom(SEED);
    const base = seeds();
    const outcomes = { decoded: 0, refused: 0, submitsAccepted: 0 };
    for (let n = 0; n < 100_000; n++) {
      const bytes = mutate(random, random.pick(base));
      let pdu: smpp.Pdu;
      try {
        pdu = decodePdu(bytes);
      } catch (error) {
        assert.ok(error instanceof SmppPduError, `seed ${SEED} case ${n}: ${(error as Error).stack}`);
        outcomes.refused++;
        continue;
      }
      outcomes.decoded++;
      assert.ok(shortMessageOf(pdu) instanceof Uint8Array);
      if (pdu.command === 'submit_sm') {
        const status = checkSubmitSm(pdu);
        assert.equal(typeof status, 'number');
        if (status === 0) outcomes.submitsAccepted++;
      }
      if (pdu.command === 'bind_transceiver') assert.equal(typeof checkBind(pdu), 'number');
    }
    assert.ok(outcomes.decoded > 10_000 && outcomes.refused > 10_000, JSON.stringify(outcomes));
  });

  test('a bound link fed 5,000 mutated PDUs: no crash, typed errors, binds again, and still sends', async () => {
    const random = new SeededRandom(SEED + 1);
    const base = seeds();
    let connections = 0;
    let fuzzing = true;
    const sockets = new Set<Socket>();
    // a fake SMSC: answers the bind and every submit_sm, and meanwhile writes garbage at the link
    const smsc = createServer((socket) => {
      connections++;
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      let buffered = Buffer.alloc(0);
      socket.on('data', (data) => {
        buffered = Buffer.concat([buffered, data]);
        while (buffered.length >= 16 && buffered.length >= buffered.readUInt32BE(0)) {
          const length = buffered.readUInt32BE(0);
          const pdu = decodePdu(buffered.subarray(0, length));
          buffered = buffered.subarray(length);
          if (pdu.isResponse()) continue;
          socket.write(pdu.response(pdu.command === 'submit_sm' ? { message_id: 'ok' } : {}).toBuffer());
          if (pdu.command === 'bind_transceiver' && fuzzing)
            for (let i = 0; i < 20; i++) socket.write(mutate(random, random.pick(base)));
        }
      });
    });
    await new Promise<void>((resolve) => smsc.listen(0, '127.0.0.1', () => resolve()));
    const port = (smsc.address() as { port: number }).port;
    const received: unknown[] = [];
    const link = await SmppLink.connect({
      host: '127.0.0.1',
      port,
      systemId: 'fuzz',
      password: 'fuzz',
      enquireLinkMs: 20,
      responseTimeoutMs: 60,
      reconnectDelayMs: 1,
      maxReconnectDelayMs: 5,
    });
    link.onMessage((from, userData) => {
      received.push([from, userData]);
    });
    try {
      let written = 0;
      const deadline = Date.now() + 30_000;
      while (written < 5000 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        for (const socket of sockets)
          for (let i = 0; i < 10; i++, written++) socket.write(mutate(random, random.pick(base)));
      }
      assert.ok(written >= 5000, `seed ${SEED + 1}: only ${written} PDUs written`);
      assert.ok(connections >= 10, `seed ${SEED + 1}: the link bound again only ${connections - 1} times`);
      assert.ok(link.lastError === undefined || link.lastError instanceof SmppError, String(link.lastError));
      for (const [from, userData] of received as [unknown, unknown][]) {
        assert.equal(typeof from, 'string');
        assert.ok(userData instanceof Uint8Array);
      }
      fuzzing = false;
      for (const socket of sockets) socket.destroy(); // a clean bind to end on
      assert.equal(await link.submit(MSISDN, Uint8Array.of(0x02, 0x70, 0x00)), 'ok');
    } finally {
      await link.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => smsc.close(() => resolve()));
    }
  });
});

describe('fuzz: JSON bodies on the HTTP API', () => {
  test('3,000 mutated bodies: each a 4xx JSON error, or a 202 job for a valid script', async () => {
    const random = new SeededRandom(SEED + 2);
    const store = await OtaStore.open(':memory:', STORAGE_KEY);
    await store.sims.add({ iccid: ICCID, msisdn: MSISDN });
    await store.sims.putKeySet(ICCID, { kvn: 1, kicByte: 0x12, kidByte: 0x12, kic: KIC, kid: KID });
    let submitted = 0;
    const silentLink: SmsLink = {
      submit: async () => `m${++submitted}`,
      onMessage: () => {},
      close: async () => {},
    };
    const server = new OtaServer(store, silentLink, { worker: false }); // jobs are made, not run
    const TOKEN = 'fuzz-token-0123456789abcdef';
    const app = await buildOtaApi(server, { tokens: [TOKEN], rateLimit: { global: 1e6, perSim: 1e6 } });
    const values = (): unknown =>
      random.pick<unknown>([
        null,
        true,
        0,
        -1,
        1.5,
        1e308,
        '',
        'B00000',
        ICCID,
        `+${MSISDN}`,
        '00a4000402',
        'zz',
        '\u0000',
        '\ud800',
        [],
        [ICCID],
        {},
        { to: ICCID },
        'a'.repeat(random.int(3000)),
      ]);
    const fields = ['to', 'tar', 'script', 'spi', 'kvn', '__proto__', 'constructor', 'x'];
    const statuses = new Map<number, number>();
    try {
      for (let n = 0; n < 3000; n++) {
        let payload: string;
        const body: Record<string, unknown> = { to: ICCID, tar: 'B00000', script: '00a40004022fe2' };
        const shape = random.int(4);
        if (shape === 0) payload = JSON.stringify(values());
        else if (shape === 1) {
          for (let i = 0; i < 1 + random.int(3); i++) body[random.pick(fields)] = values();
          payload = JSON.stringify(body);
        } else if (shape === 2) {
          const text = JSON.stringify(body);
          const bytes = Buffer.from(text);
          for (let i = 0; i < 1 + random.int(3); i++) bytes[random.int(bytes.length)] = random.int(256);
          payload = bytes.toString('latin1');
        } else payload = JSON.stringify(body).slice(0, random.int(60));
        const response = await app.inject({
          method: 'POST',
          url: '/send',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
          payload,
        });
        const status = response.statusCode;
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        assert.ok(
          [202, 400, 404, 413].includes(status),
          `seed ${SEED + 2} case ${n}: ${status} ${response.body}`,
        );
        if (status === 202) {
          assert.match((response.json() as { job: string }).job, /^[0-9a-f-]{36}$/);
          continue;
        }
        const json = response.json() as { error?: { code?: unknown; message?: unknown } };
        assert.equal(typeof json.error?.code, 'string', response.body);
        assert.equal(typeof json.error?.message, 'string', response.body);
      }
      assert.ok((statuses.get(400) ?? 0) > 1000, JSON.stringify([...statuses]));
      assert.ok((statuses.get(202) ?? 0) > 0, 'some bodies were valid');
      assert.equal(submitted, 0, 'no worker here: nothing was sent');
    } finally {
      await app.close();
      await server.close();
      await store.close();
    }
  });
});
