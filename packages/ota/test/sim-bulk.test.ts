// The inventory's bulk write (addMany, what a vendor import and a fleet's population use): more SIMs
// than one statement takes, a SIM named twice (the later wins, as one by one), tags replaced, a key
// set re-imported keeping its counter and its KIK, a PSK kept when a later row gives none.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OtaStore } from '@iotsafe/ota';
import { STORAGE_KEY } from './rig.js';

const iccid = (i: number) => `8949000000${String(i).padStart(9, '0')}`;
const key = (byte: number) => new Uint8Array(16).fill(byte);

test('addMany: 600 SIMs in chunks, a SIM named twice, counters and KIKs kept, PSKs kept', async () => {
  const store = await OtaStore.open(':memory:', STORAGE_KEY);
  try {
    const entries = Array.from({ length: 600 }, (_, i) => ({
      sim: { iccid: iccid(i), msisdn: `4930${String(i).padStart(8, '0')}`, tags: ['a', 'a', 'b'] },
      keySets: [{ kvn: 1, kicByte: 0x12, kidByte: 0x12, kic: key(1), kid: key(2), kik: key(3) }],
      psk: key(4),
    }));
    // SIM 7 again later in the same call: its new tags and keys win
    entries.push({
      sim: { iccid: iccid(7), msisdn: '493000000007', tags: ['c'] },
      keySets: [{ kvn: 1, kicByte: 0x12, kidByte: 0x12, kic: key(5), kid: key(6), kik: key(3) }],
      psk: key(8),
    });
    await store.sims.addMany(entries);
    assert.equal(await store.sims.count(), 600);
    assert.equal(await store.sims.count({ tags: ['b'] }), 599);
    assert.deepEqual((await store.sims.get(iccid(7))).tags, ['c']);
    assert.deepEqual((await store.sims.keySet(iccid(7), 1)).kic, key(5));
    assert.deepEqual(await store.sims.psk(iccid(7)), key(8));
    assert.deepEqual((await store.sims.keySet(iccid(599), 1)).kik, key(3));

    assert.equal(await store.sims.nextCounter(iccid(300), 1), 1n);
    // imported again without PSK or KIK: the counter never goes back, the PSK and KIK stay
    await store.sims.addMany([
      {
        sim: { iccid: iccid(300), batch: 'again' },
        keySets: [{ kvn: 1, kicByte: 0x12, kidByte: 0x12, kic: key(9), kid: key(9) }],
      },
    ]);
    assert.equal(await store.sims.counter(iccid(300), 1), 1n);
    const again = await store.sims.keySet(iccid(300), 1);
    assert.deepEqual([again.kic, again.kik], [key(9), key(3)]);
    assert.deepEqual(await store.sims.psk(iccid(300)), key(4));
    const record = await store.sims.get(iccid(300));
    assert.equal(record.msisdn, '493000000300', 'fields not given are kept');
    assert.equal(record.batch, 'again');
    // a bad KVN anywhere: nothing written
    await assert.rejects(
      store.sims.addMany([
        { sim: { iccid: iccid(900) } },
        {
          sim: { iccid: iccid(901) },
          keySets: [{ kvn: 16, kicByte: 0, kidByte: 0, kic: key(1), kid: key(1) }],
        },
      ]),
      /KVN is 1 to 15/,
    );
    assert.equal(await store.sims.count(), 600);
  } finally {
    await store.close();
  }
});
