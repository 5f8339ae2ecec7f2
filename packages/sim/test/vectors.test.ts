// The traces and vectors of test/fixtures/iotsafe-vectors.json replayed against the virtual SIM with
// the personality of the card they were taken from.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bytesToHex, hexToBytes } from '@iotsafe/protocol';
import { CardRuntime, VirtualSim } from '@iotsafe/sim';
import { send } from '../../../test/helpers/cards.js';
import { vector } from '../../../test/helpers/vectors.js';

describe('Orange issue #7: a SIM without the IoT SAFE applet', () => {
  const v = vector('orange-issue7-no-applet') as unknown as {
    exchanges: { c_apdu: string; r_apdu: string }[];
  };
  // Exchanges 6 and 7 (VERIFY INIT close/open) are answered by that UICC's default application with
  // 6A86/6700; a card with no application selected answers every applet INS with 6D00 instead.
  const reproduced = [0, 1, 2, 3, 4, 7];
  for (const i of reproduced) {
    const e = v.exchanges[i]!;
    test(`${e.c_apdu} → ${e.r_apdu}`, () => {
      const card = new CardRuntime({ protocol: 'T=0', channels: 4, implicitChannelOpen: false });
      for (const before of v.exchanges.slice(0, i)) card.transmit(hexToBytes(before.c_apdu));
      assert.equal(bytesToHex(card.transmit(hexToBytes(e.c_apdu))), e.r_apdu);
    });
  }
});

describe('ZARIOT templates against the zariot personality', () => {
  const v = vector('zariot-apdu-templates') as unknown as { test_data: { sha256: string; ids: string[] } };
  const [privateId, publicId] = v.test_data.ids as [string, string];
  const sim = VirtualSim.inMemory(
    {
      containers: [
        { class: 'privateKey', id: privateId, key: 'generate' },
        { class: 'publicKey', id: publicId, functions: ['verify'] },
      ],
    },
    { personality: 'zariot' },
  );
  const c = sim.card;
  test('channel 1, keygen through 6151 + GET RESPONSE, the public key ID moves to the next one', () => {
    assert.equal(send(c, '0070000001').data, '01');
    assert.equal(send(c, '01A4040007A0000005590010').sw, '9000');
    assert.equal(send(c, `81B90000058403${privateId}`).sw, '6151');
    const gen = send(c, '81C0000051');
    assert.equal(gen.sw, '9000');
    assert.ok(gen.data.startsWith(`8403${privateId}8503${publicId}34454943864104`));
  });
  test('read public key: 6147 then 34 45 49 43 86 41 04 X Y', () => {
    assert.equal(send(c, `81CD0000058503${publicId}`).sw, '6147');
    assert.match(send(c, '81C0000047').data, /^34454943864104/);
  });
  let signature = '';
  test('sign: INIT 9000, UPDATE 6143, GET RESPONSE 33 00 40 r||s', () => {
    assert.equal(send(c, `812A00010F8403${privateId}A1010391020001920104`).sw, '9000');
    assert.equal(send(c, `812B8001229E20${v.test_data.sha256}`).sw, '6143');
    const answer = send(c, '81C0000043');
    assert.ok(answer.data.startsWith('330040'));
    signature = answer.data.slice(6);
  });
  test('verify on session 02 while sign session 01 is still open: 9000', () => {
    assert.equal(send(c, `812C00020F8503${publicId}A1010391020001920104`).sw, '9000');
    assert.equal(send(c, `812D8002659E20${v.test_data.sha256}330040${signature}`).sw, '9000');
    assert.equal(send(c, '812A010100').sw, '9000');
    assert.equal(send(c, '812C010200').sw, '9000');
  });
  test('the rejected verify of at_client_sdk #850: a 9B with a 1-byte length is 6985', () => {
    const r = vector('zariot-rejected-verify') as unknown as {
      verify_init_used: string;
      exchanges: { c_apdu: string; r_apdu: string }[];
    };
    assert.equal(send(c, r.verify_init_used).sw, '9000');
    assert.equal(send(c, r.exchanges[0]!.c_apdu).sw, r.exchanges[0]!.r_apdu);
  });
});

describe('m33mu emulator trace against the m33mu personality', () => {
  const v = vector('m33mu-emulator-trace') as unknown as {
    exchanges: {
      c_apdu?: string;
      response_prefix?: string;
      response_suffix?: string;
      response_contains?: string[];
    }[];
  };
  const sim = VirtualSim.inMemory(
    {
      containers: [
        { class: 'privateKey', id: '1234' },
        { class: 'publicKey', id: '1234' },
        { class: 'file', id: '0200', content: { hex: '3003020100' } },
      ],
    },
    { personality: 'm33mu' },
  );
  for (const e of v.exchanges.filter((x) => x.c_apdu)) {
    test(e.c_apdu!, () => {
      const r = bytesToHex(sim.card.transmit(hexToBytes(e.c_apdu!)));
      assert.ok(r.endsWith('9000'), r);
      if (e.response_prefix) assert.ok(r.startsWith(e.response_prefix));
      for (const part of e.response_contains ?? []) assert.ok(r.includes(part), part);
      if (e.c_apdu === '8184000008') assert.equal(r.length, 2 * 10);
    });
  }
});

describe('derived COMPUTE PRF / COMPUTE HKDF APDUs give the published outputs', () => {
  const sim = VirtualSim.inMemory({ containers: [] });
  send(sim.card, '00A4040007A0000005590010');
  test('Thales extended master secret (48 bytes)', () => {
    const v = vector('thales-prf-extended-master-secret') as unknown as {
      apdu_mode00_48_bytes_derived: string;
      expected: { output_first_48: string };
    };
    assert.deepEqual(send(sim.card, v.apdu_mode00_48_bytes_derived), {
      data: v.expected.output_first_48,
      sw: '9000',
    });
  });
  test('Thales key expansion (255 bytes)', () => {
    const v = vector('thales-prf-key-expansion') as unknown as {
      apdu_mode00_255_bytes_derived: string;
      expected: { output_full_255_derived: string };
    };
    assert.deepEqual(send(sim.card, v.apdu_mode00_255_bytes_derived), {
      data: v.expected.output_full_255_derived,
      sw: '9000',
    });
  });
  test('HKDF RFC 5869 test case 1 and the TLS 1.3 early secret', () => {
    const a = vector('hkdf-rfc5869-tc1') as unknown as { apdu: string; expected: { prk: string } };
    assert.deepEqual(send(sim.card, a.apdu), { data: a.expected.prk, sw: '9000' });
    const b = vector('hkdf-tls13-early-secret-no-psk') as unknown as {
      apdu_derived: string;
      expected: { prk: string };
    };
    assert.deepEqual(send(sim.card, b.apdu_derived), { data: b.expected.prk, sw: '9000' });
  });
});
