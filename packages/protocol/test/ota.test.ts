// SCP80 packets against every vector of test/fixtures/scp80-vectors.json, both directions: the server
// builds the packet byte for byte and the receiving entity opens it; PoRs decode and re-encode; the CC,
// CRC and padding vectors; then the refusals, each with its PoR status.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  bytesToHex,
  checksumAlgorithm,
  crc16,
  crc32,
  cryptographicChecksum,
  decodeResponsePacket,
  decodeSpi,
  encodeCommandPacket,
  encodeResponsePacket,
  encodeSpi,
  FormatError,
  hexToBytes,
  OtaPacketError,
  openCommandPacket,
  paddingCount,
  utf8,
} from '@iotsafe/protocol';
import { scp80Vectors } from '../../../test/helpers/vectors.js';

const h = hexToBytes;
const lower = (b: Uint8Array) => bytesToHex(b).toLowerCase();

describe('SCP80 command packets (every vector, both directions)', () => {
  const withKeys = scp80Vectors('scp80_sms_command_packet').filter((v) => v.inputs.kic_key);
  test('the fixture holds the vectors this suite expects', () => assert.ok(withKeys.length >= 13));
  for (const v of withKeys) {
    const i = v.inputs;
    const keys = { kic: h(i.kic_key), kid: h(i.kid_key) };
    const input = {
      spi: h(i.spi),
      kic: Number.parseInt(i.kic, 16),
      kid: Number.parseInt(i.kid, 16),
      tar: h(i.tar),
      counter: BigInt(`0x${i.cntr}`),
      data: h(i.secured_data),
    };
    test(`${v.id}: encode`, () => {
      assert.equal(
        lower(encodeCommandPacket(input, keys)),
        v.expected.command_packet_after_udh.toLowerCase(),
      );
    });
    test(`${v.id}: open on the card`, () => {
      const opened = openCommandPacket(h(v.expected.command_packet_after_udh), keys);
      assert.equal(lower(opened.data), i.secured_data.toLowerCase());
      assert.equal(opened.counter, input.counter);
      assert.equal(lower(opened.tar), i.tar.toLowerCase());
      assert.deepEqual(encodeSpi(opened.spi), input.spi);
    });
  }
});

describe('SCP80 response packets (PoR)', () => {
  for (const v of scp80Vectors('scp80_sms_response_packet_por')) {
    const i = v.inputs;
    const keys = { kic: h(i.kic_key), kid: h(i.kid_key) };
    const security = {
      spi: decodeSpi(h(i.spi_of_command)),
      kic: Number.parseInt(i.kic, 16),
      kid: Number.parseInt(i.kid, 16),
    };
    test(`${v.id}: decode, and encode back byte for byte`, () => {
      const por = decodeResponsePacket(h(i.por_user_data_incl_udh), security, keys);
      const d = v.expected.decoded;
      assert.equal(por.status, d.response_status);
      assert.equal(lower(por.tar), d.tar);
      assert.equal(lower(por.data), d.additional_response_data);
      assert.equal(por.secured, true);
      const again = encodeResponsePacket(
        { tar: por.tar, counter: por.counter, status: por.status, data: por.data },
        security,
        keys,
      );
      assert.equal(lower(again), i.por_user_data_incl_udh.toLowerCase());
    });
  }
  test('a PoR with its status byte changed fails the CC (pysim test_resp_3des_signed_err)', () => {
    const v = scp80Vectors('scp80_sms_response_packet_por').find((x) => x.id === 'pysim-3des-kvn3-por-cc')!;
    const security = { spi: decodeSpi(h('0609')), kic: 0x35, kid: 0x35 };
    const keys = { kic: h(v.inputs.kic_key), kid: h(v.inputs.kid_key) };
    assert.throws(
      () => decodeResponsePacket(h('027100001612b000110000000000000055f47118381175fb02612f'), security, keys),
      (e: OtaPacketError) => e instanceof OtaPacketError && e.status === 0x01,
    );
  });
  test('an unsecured error PoR (RHL 0A) is read although the SPI asked for security', () => {
    const por = decodeResponsePacket(
      h(`027100000b0ab00011${'00'.repeat(5)}0006`),
      { spi: decodeSpi(h('0619')), kic: 0x22, kid: 0x22 },
      {},
    );
    assert.equal(por.status, 0x06);
    assert.equal(por.secured, false);
    assert.match(por.statusText, /unidentified security error/);
  });
});

describe('SCP80 algorithms', () => {
  test('CC vectors (onomondo 3DES and AES-CMAC; NIST SP 800-38B truncated to 8)', () => {
    for (const v of scp80Vectors('cc')) {
      if (v.inputs.messages) {
        for (const [n, m] of (v.inputs.messages as string[]).entries())
          assert.equal(
            bytesToHex(cryptographicChecksum('aes-cmac', h(v.inputs.key), h(m))),
            v.expected.cc8[n],
          );
        continue;
      }
      const algorithm = v.inputs.algorithm.startsWith('AES') ? 'aes-cmac' : '3des-2key-mac';
      assert.equal(
        lower(cryptographicChecksum(algorithm, h(v.inputs.key), h(v.inputs.data))),
        v.expected.cc,
        v.id,
      );
    }
  });
  test('CRC check values', () => {
    const v = scp80Vectors('crc')[0]!;
    assert.equal(bytesToHex(crc16(utf8(v.inputs.data_ascii))), v.expected.crc16_x25);
    assert.equal(bytesToHex(crc32(utf8(v.inputs.data_ascii))), v.expected.crc32);
  });
  test('PCNTR table (onomondo)', () => {
    const v = scp80Vectors('padding')[0]!;
    for (const [length, pad] of Object.entries(v.expected['3des'] as Record<string, number>))
      assert.equal(paddingCount(Number(length), 8), pad);
    for (const [length, pad] of Object.entries(v.expected.aes as Record<string, number>))
      assert.equal(paddingCount(Number(length), 16), pad);
  });
  test('KID codings: DES/3DES CBC-MAC and AES-CMAC; a reserved DES-ECB CC is refused', () => {
    assert.equal(checksumAlgorithm(0x15), '3des-2key-mac');
    assert.equal(checksumAlgorithm(0x19), '3des-3key-mac');
    assert.equal(checksumAlgorithm(0x11), 'des-mac');
    assert.equal(checksumAlgorithm(0x22), 'aes-cmac');
    assert.throws(() => checksumAlgorithm(0x1d), /reserved/);
    assert.throws(() => checksumAlgorithm(0x10), /implicit/);
  });
});

describe('SCP80 round trips over every SPI option and algorithm', () => {
  const keySets = [
    { name: 'DES', kic: 0x11, kid: 0x11, kicKey: h('0123456789abcdef'), kidKey: h('fedcba9876543210') },
    {
      name: '3DES 2-key',
      kic: 0x15,
      kid: 0x15,
      kicKey: h('00112233445566778899aabbccddeeff'),
      kidKey: h('ffeeddccbbaa99887766554433221100'),
    },
    {
      name: '3DES 3-key',
      kic: 0x19,
      kid: 0x19,
      kicKey: new Uint8Array(24).fill(0x21),
      kidKey: new Uint8Array(24).fill(0x43),
    },
    {
      name: 'AES-128',
      kic: 0x12,
      kid: 0x12,
      kicKey: new Uint8Array(16).fill(1),
      kidKey: new Uint8Array(16).fill(2),
    },
    {
      name: 'AES-192',
      kic: 0x12,
      kid: 0x12,
      kicKey: new Uint8Array(24).fill(3),
      kidKey: new Uint8Array(24).fill(4),
    },
    {
      name: 'AES-256',
      kic: 0x12,
      kid: 0x12,
      kicKey: new Uint8Array(32).fill(5),
      kidKey: new Uint8Array(32).fill(6),
    },
  ];
  const integrities = [
    { integrity: 'none', kid: undefined },
    { integrity: 'rc', kid: 0x11 }, // CRC16
    { integrity: 'rc', kid: 0x15 }, // CRC32
    { integrity: 'cc', kid: undefined },
  ] as const;
  for (const set of keySets) {
    test(`${set.name}: every integrity × ciphering × PoR security`, () => {
      for (const { integrity, kid: rcKid } of integrities) {
        for (const ciphered of [false, true]) {
          for (const porCiphered of [false, true]) {
            const spi = decodeSpi(
              encodeSpi({
                counter: 'higher',
                ciphered,
                integrity,
                por: 'always',
                porIntegrity: integrity,
                porCiphered,
                porViaSubmit: false,
              }),
            );
            const kid = rcKid ?? set.kid;
            const keys = { kic: set.kicKey, kid: set.kidKey };
            for (const length of [0, 1, 7, 8, 15, 16, 17, 100]) {
              const data = new Uint8Array(length).map((_, n) => n * 7 + length);
              const packet = encodeCommandPacket(
                { spi, kic: set.kic, kid, tar: h('b00010'), counter: 42n, data },
                keys,
              );
              const opened = openCommandPacket(packet, keys);
              assert.deepEqual(opened.data, data);
              assert.equal(opened.counter, 42n);
              const por = encodeResponsePacket(
                { tar: opened.tar, counter: 42n, status: 0, data },
                { spi, kic: set.kic, kid },
                keys,
              );
              assert.deepEqual(decodeResponsePacket(por, { spi, kic: set.kic, kid }, keys).data, data);
            }
          }
        }
      }
    });
  }
});

describe('SCP80 refusals carry the PoR status', () => {
  const keys = { kic: new Uint8Array(16).fill(1), kid: new Uint8Array(16).fill(2) };
  const base = {
    spi: h('1619'),
    kic: 0x12,
    kid: 0x12,
    tar: h('b00010'),
    counter: 7n,
    data: h('00a40004023f00'),
  };
  const status = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      assert.ok(error instanceof OtaPacketError, String(error));
      return error.status;
    }
    assert.fail('expected a refusal');
  };
  test('wrong KID key: 01; wrong KIc key: 01 (the deciphered CC cannot match); any flipped bit: 01 or 05', () => {
    const packet = encodeCommandPacket(base, keys);
    assert.equal(
      status(() => openCommandPacket(packet, { ...keys, kid: new Uint8Array(16) })),
      0x01,
    );
    assert.ok(
      [0x01, 0x05].includes(status(() => openCommandPacket(packet, { ...keys, kic: new Uint8Array(16) }))!),
    );
    for (let bit = 16 * 8; bit < packet.length * 8; bit += 5) {
      const bad = packet.slice();
      bad[bit >> 3]! ^= 1 << (bit & 7);
      assert.ok([0x01, 0x05].includes(status(() => openCommandPacket(bad, keys))!), `bit ${bit}`);
    }
  });
  test('truncated or extended packets, wrong CHL, reserved PoR mode, unknown algorithms: 05/06', () => {
    const packet = encodeCommandPacket(base, keys);
    assert.equal(
      status(() => openCommandPacket(packet.subarray(0, packet.length - 1), keys)),
      0x06,
    ); // CPL
    const shortCpl = packet.slice(0, packet.length - 16);
    shortCpl[1] = shortCpl.length - 2;
    assert.equal(
      status(() => openCommandPacket(shortCpl, keys)),
      0x05, // PCNTR now points beyond the data
    );
    const oddBlocks = packet.slice(0, packet.length - 8);
    oddBlocks[1] = oddBlocks.length - 2;
    assert.equal(
      status(() => openCommandPacket(oddBlocks, keys)),
      0x05,
    );
    const chl = packet.slice();
    chl[2] = 0x0d;
    assert.equal(
      status(() => openCommandPacket(chl, keys)),
      0x06,
    );
    const por11 = packet.slice();
    por11[4] = 0x1b;
    assert.equal(
      status(() => openCommandPacket(por11, keys)),
      0x06,
    );
    const implicit = packet.slice();
    implicit[5] = 0x10;
    assert.equal(
      status(() => openCommandPacket(implicit, keys)),
      0x05,
    );
    const ds = packet.slice();
    ds[3] = 0x17;
    assert.equal(
      status(() => openCommandPacket(ds, keys)),
      0x06,
    );
    assert.equal(
      status(() => openCommandPacket(new Uint8Array(5), keys)),
      0x06,
    );
  });
  test('no KIc key for a ciphered packet: 05', () => {
    assert.equal(
      status(() => openCommandPacket(encodeCommandPacket(base, keys), { kid: keys.kid })),
      0x05,
    );
  });
  test('seeded fuzz: random and mutated packets are refused with a status or opened, never a crash', () => {
    let seed = 0x5eed;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const good = encodeCommandPacket(base, keys);
    for (let n = 0; n < 20_000; n++) {
      const packet = n % 2 ? good.slice() : new Uint8Array(rand(80)).map(() => rand(256));
      for (let k = rand(4); k >= 0 && packet.length; k--) packet[rand(packet.length)] = rand(256);
      try {
        openCommandPacket(packet, keys);
      } catch (error) {
        assert.ok(error instanceof OtaPacketError, `${bytesToHex(packet)}: ${error}`);
      }
    }
    const security = { spi: decodeSpi(h('1619')), kic: 0x12, kid: 0x12 };
    const por = encodeResponsePacket(
      { tar: base.tar, counter: 7n, status: 0, data: h('016132') },
      security,
      keys,
    );
    for (let n = 0; n < 20_000; n++) {
      const packet = n % 2 ? por.slice() : new Uint8Array(rand(60)).map(() => rand(256));
      for (let k = rand(4); k >= 0 && packet.length; k--) packet[rand(packet.length)] = rand(256);
      try {
        decodeResponsePacket(packet, security, keys);
      } catch (error) {
        assert.ok(
          error instanceof OtaPacketError || error instanceof FormatError,
          `${bytesToHex(packet)}: ${error}`,
        );
      }
    }
  });
});
