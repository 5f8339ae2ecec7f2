// The issuer's route to an SCP81-ready SIM: PUT KEY of the TLS-PSK key set (GP Amd B: KVN 40..4F, key 01
// TLS-PSK, key 02 DEK) and STORE DATA of the ISD's HTTP administration parameters (the `85` template
// GET DATA 00 85 answers), both over SCP03; what a malformed or unauthenticated STORE DATA gets.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { GlobalPlatform, MemoryTransport } from '@iotsafe/device';
import { bytesToHex, KEY_TYPE_TLS_PSK, StatusWordError } from '@iotsafe/protocol';
import {
  decodeStoredParameters,
  encodeStoredParameters,
  newStorageKey,
  parseAdminParameters,
  VirtualSim,
} from '@iotsafe/sim';
import { GP_TEST_KEYS, send, TEST_PROFILE } from '../../../test/helpers/cards.js';
import { SeededRandom } from '../../../test/helpers/random.js';

const PARAMETERS = {
  address: '127.0.0.1',
  port: 8443,
  host: 'admin.test',
  agentId: '//se-id/iccid/8944000000000000001',
  uri: '/ram?sim=8944000000000000001',
  pskIdentity: 'test-sim-0001',
  retry: { counter: 2, delaySeconds: 75 },
};
const stored = (json: unknown = PARAMETERS) =>
  encodeStoredParameters(parseAdminParameters(json), 'swapped-bcd');
function storedHex(sim: VirtualSim): string | undefined {
  const parameters = sim.isd.adminParameters;
  return parameters && bytesToHex(encodeStoredParameters(parameters, 'swapped-bcd'));
}
const swOf = (error: unknown) => (error instanceof StatusWordError ? error.sw : -1);

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('ISD: SCP81 key set and admin parameters personalised over SCP03', () => {
  test('PUT KEY (TLS-PSK + DEK) and STORE DATA 85: stored durably, GET DATA 00 85 answers the same bytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'isd-admin-'));
    dirs.push(dir);
    const storageKey = newStorageKey();
    const sim = VirtualSim.create(join(dir, 'sim'), TEST_PROFILE, {
      storageKey,
      isdKeys: { keys: GP_TEST_KEYS },
    });
    const gp = await GlobalPlatform.open(new MemoryTransport(sim.card), GP_TEST_KEYS, {
      securityLevel: 0x33,
    });
    const psk = new Uint8Array(16).fill(0x5a);
    await gp.putKeys(0x40, [
      { type: KEY_TYPE_TLS_PSK, value: psk },
      { type: 0x88, value: new Uint8Array(16).fill(0x5b) },
    ]);
    const tlv = stored();
    await gp.storeIsdData(tlv);
    assert.equal(
      bytesToHex(await gp.getData(0x0085)),
      bytesToHex(tlv.subarray(2)),
      'GET DATA gives the value',
    );
    await gp.close();
    sim.close();

    const reopened = VirtualSim.open(join(dir, 'sim'), { storageKey });
    const parameters = reopened.isd.adminParameters;
    assert.equal(parameters?.address, '127.0.0.1');
    assert.equal(parameters?.port, 8443);
    assert.equal(parameters?.uri, PARAMETERS.uri);
    assert.equal(new TextDecoder().decode(parameters?.pskIdentity), 'test-sim-0001');
    assert.deepEqual(parameters?.retry, { counter: 2, delaySeconds: 75 });
    const set = reopened.isd.keySets.find((s) => s.keyVersion === 0x40);
    assert.deepEqual(
      set?.keys.map((k) => [k.id, k.type]),
      [
        [1, 0x85],
        [2, 0x88],
      ],
    );
    assert.equal(bytesToHex(set!.keys[0]!.value), bytesToHex(psk));
    reopened.close();
  });

  test('the template reads back as written: IPv6, APN, buffer size, plain tags (3C/3E) as live cards write', () => {
    const json = { ...PARAMETERS, address: '2001:db8::10', apn: 'iot.example', bufferSize: 1422 };
    const p = decodeStoredParameters(stored(json), 'swapped-bcd');
    assert.equal(p.address, '2001:0db8:0000:0000:0000:0000:0000:0010');
    assert.equal(p.apn, 'iot.example');
    assert.equal(p.bufferSize, 1422);
    assert.equal(bytesToHex(stored({ ...json, address: p.address })), bytesToHex(stored(json)));
    // 85 { 85 id, 3C 03 02 port, 3E 05 21 a.b.c.d }: the channel tags without the CR bit
    const plain = decodeStoredParameters(
      Uint8Array.from([
        0x85, 0x0f, 0x85, 0x01, 0x41, 0x3c, 0x03, 0x02, 0x1f, 0x90, 0x3e, 0x05, 0x21, 10, 0, 0, 1,
      ]),
      'swapped-bcd',
    );
    assert.equal(plain.port, 8080);
    assert.equal(plain.address, '10.0.0.1');
    assert.equal(plain.uri, '/', 'the default URI');
  });

  test('without a secure channel 6982; another tag 6A88; malformed 6A80: nothing stored', async () => {
    const sim = VirtualSim.inMemory(TEST_PROFILE, { isdKeys: { keys: GP_TEST_KEYS } });
    const tlv = bytesToHex(stored());
    const len = (tlv.length / 2).toString(16).padStart(2, '0');
    send(sim.card, '00A4040008A000000151000000');
    assert.equal(send(sim.card, `80E29000${len}${tlv}`).sw, '6982');
    const gp = await GlobalPlatform.open(new MemoryTransport(sim.card), GP_TEST_KEYS, {
      securityLevel: 0x33,
    });
    const refused = async (data: Uint8Array) => swOf(await gp.storeIsdData(data).catch((e: unknown) => e));
    assert.equal(await refused(Uint8Array.of(0x86, 0x00)), 0x6a88);
    assert.equal(await refused(Uint8Array.of(0x85, 0x02, 0x99, 0x00)), 0x6a80, 'an unknown field');
    assert.equal(await refused(Uint8Array.of(0x85, 0x03, 0x8c, 0x01, 0x2f)), 0x6a80, 'no PSK identity');
    assert.equal(sim.isd.adminParameters, undefined);

    // seeded mutations of a valid template: stored whole or refused with 6A80/6A88, never half
    const random = new SeededRandom(0x81);
    const valid = stored();
    let accepted = 0;
    for (let i = 0; i < 300; i++) {
      const mutated = valid.slice();
      const flips = 1 + random.int(3);
      for (let f = 0; f < flips; f++) mutated[random.int(mutated.length)] = random.int(256);
      const before = storedHex(sim);
      const result = await gp.storeIsdData(mutated).then(
        () => 0x9000,
        (e: unknown) => swOf(e),
      );
      const now = storedHex(sim);
      if (result === 0x9000) {
        accepted++;
        assert.deepEqual(sim.isd.adminParameters, decodeStoredParameters(mutated, 'swapped-bcd'));
      } else {
        assert.ok([0x6a80, 0x6a88].includes(result), `mutation ${i}: ${result.toString(16)}`);
        assert.equal(now, before, `mutation ${i} changed the stored parameters`);
      }
    }
    assert.ok(accepted > 0 && accepted < 300, `${accepted} of 300 mutations accepted`);
    await gp.close();
  });
});
