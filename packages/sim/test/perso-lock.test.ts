// The personalisation lock (A0FF, docs/perso-format.md): a locked IoT SAFE applet takes STORE DATA only
// through the issuer's channel — the ISD authenticated the sender and checks each command's integrity
// (GPCS §11.11 under a secure channel) — and answers 6982 to anything else, losing nothing; locked over
// the air only, it refuses the terminal's SCP03 route too (6985). Over SCP03 here; over SCP80 in
// ota.test.ts, over SCP81 in scp81-session.test.ts (both on SIMs locked over the air only).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { GlobalPlatform, MemoryTransport } from '@iotsafe/device';
import {
  buildInstallForPersonalization,
  bytesToHex,
  encodeCommandApdu,
  hexToBytes,
  IOTSAFE_AID,
  type PersoOperation,
  StatusWordError,
  utf8,
} from '@iotsafe/protocol';
import { newStorageKey, type SimOptions, VirtualSim } from '@iotsafe/sim';
import { GP_TEST_KEYS, send, TEST_PROFILE } from '../../../test/helpers/cards.js';

const root = mkdtempSync(join(tmpdir(), 'iotsafe-perso-lock-'));
after(() => rmSync(root, { recursive: true, force: true }));

const FILE_03 = { id: Uint8Array.of(0x03) };
const writeFile = (text: string): PersoOperation => ({
  op: 'content',
  objectClass: 'file',
  ref: FILE_03,
  content: { kind: 'file', content: utf8(text) },
});
const fileContent = (sim: VirtualSim) => {
  const file = sim.containers().find((c) => c.objectClass === 'file' && c.id[0] === 0x03);
  return bytesToHex((file as { content?: Uint8Array } | undefined)?.content ?? new Uint8Array(0));
};
const gp = (sim: VirtualSim, securityLevel = 0x01) =>
  GlobalPlatform.open(new MemoryTransport(sim.card), GP_TEST_KEYS, { securityLevel });

/** A SIM the factory personalised and then locked (A0FF over SCP03, as the demo's factory does). */
async function lockedSim(options: SimOptions = {}): Promise<VirtualSim> {
  const sim = VirtualSim.inMemory(TEST_PROFILE, { isdKeys: { keys: GP_TEST_KEYS }, ...options });
  await (await gp(sim, 0x33)).personalize(IOTSAFE_AID, [writeFile('factory'), { op: 'lock' }]);
  assert.equal(sim.store.personalizationLocked, 'issuer');
  return sim;
}

const refusedWith = (sw: number) => (e: unknown) => e instanceof StatusWordError && e.sw === sw;

describe('the personalisation lock', () => {
  test('local personalisation of a locked SIM, outside a secure channel, is 6982 and changes nothing', async () => {
    const sim = await lockedSim();
    const before = { file: fileContent(sim), version: sim.store.version };
    send(sim.card, '00A4040008A000000151000000');
    const install = bytesToHex(encodeCommandApdu(buildInstallForPersonalization(IOTSAFE_AID)));
    assert.equal(send(sim.card, install).sw, '6982');
    assert.equal(send(sim.card, '80E2880005A00203C30100').sw, '6982');
    assert.deepEqual({ file: fileContent(sim), version: sim.store.version }, before);
    assert.equal(sim.store.personalizationLocked, 'issuer');
  });

  test('a level-00 session the ISD admits personalises an open SIM, but not a locked one (6982)', async () => {
    // an ISD that takes management commands in an authenticated session without C-MAC (a factory setting)
    const open = VirtualSim.inMemory(TEST_PROFILE, { isdKeys: { keys: GP_TEST_KEYS }, isdRequiredLevel: 0 });
    await (await gp(open, 0x00)).personalize(IOTSAFE_AID, [writeFile('before the lock')]);
    assert.equal(fileContent(open), bytesToHex(utf8('before the lock')));

    const sim = await lockedSim({ isdRequiredLevel: 0 });
    const before = sim.store.version;
    await assert.rejects(
      (await gp(sim, 0x00)).personalize(IOTSAFE_AID, [writeFile('unauthenticated')]),
      refusedWith(0x6982),
    );
    assert.equal(fileContent(sim), bytesToHex(utf8('factory')), 'the refused script changed nothing');
    assert.equal(sim.store.version, before);
    // the refusal lost nothing: the issuer's session right after is admitted
    await (await gp(sim, 0x01)).personalize(IOTSAFE_AID, [writeFile('issuer')]);
    assert.equal(fileContent(sim), bytesToHex(utf8('issuer')));
  });

  test('SCP03 with C-MAC administers a locked SIM; the lock stays, across a restart too', async () => {
    const dir = join(root, 'locked');
    const storageKey = newStorageKey();
    const created = VirtualSim.create(dir, TEST_PROFILE, { storageKey, isdKeys: { keys: GP_TEST_KEYS } });
    await (await gp(created, 0x33)).personalize(IOTSAFE_AID, [{ op: 'lock' }]);
    await (await gp(created, 0x01)).personalize(IOTSAFE_AID, [writeFile('rotated certificate')]);
    created.close();

    const sim = VirtualSim.open(dir, { storageKey, isdKeys: { keys: GP_TEST_KEYS } });
    assert.equal(fileContent(sim), bytesToHex(utf8('rotated certificate')));
    assert.equal(sim.store.personalizationLocked, 'issuer', 'a script without A0FF does not unlock');
    // a secret still needs C-DECRYPTION, locked or not
    const secret: PersoOperation = {
      op: 'content',
      objectClass: 'secret',
      ref: { id: hexToBytes('10') },
      content: { kind: 'secret', value: new Uint8Array(16).fill(0x5a) },
    };
    await (await gp(sim, 0x33)).personalize(IOTSAFE_AID, [secret]);
    sim.close();
  });

  test("locked over the air only (A0FF 01): the issuer's own SCP03 session is 6985, across a restart; the scope only narrows", async () => {
    const dir = join(root, 'ota-only');
    const storageKey = newStorageKey();
    const created = VirtualSim.create(dir, TEST_PROFILE, { storageKey, isdKeys: { keys: GP_TEST_KEYS } });
    await (await gp(created, 0x33)).personalize(IOTSAFE_AID, [
      writeFile('factory'),
      { op: 'lock', scope: 'ota' },
    ]);
    assert.equal(created.store.personalizationLocked, 'ota');
    created.close();

    const sim = VirtualSim.open(dir, { storageKey, isdKeys: { keys: GP_TEST_KEYS } });
    assert.equal(sim.store.personalizationLocked, 'ota');
    const before = sim.store.version;
    for (const level of [0x01, 0x33]) {
      await assert.rejects(
        (await gp(sim, level)).personalize(IOTSAFE_AID, [writeFile('local'), { op: 'lock' }]),
        refusedWith(0x6985),
        `SCP03 level ${level.toString(16)}`,
      );
    }
    assert.equal(fileContent(sim), bytesToHex(utf8('factory')), 'the refused scripts changed nothing');
    assert.equal(sim.store.version, before);
    assert.equal(sim.store.personalizationLocked, 'ota', 'an A0FF of the issuer scope never widens it');
    sim.close();
  });

  test('A0FF ends a script: an operation after it is 6985 and the script changes nothing', async () => {
    const sim = VirtualSim.inMemory(TEST_PROFILE, { isdKeys: { keys: GP_TEST_KEYS } });
    await assert.rejects(
      (await gp(sim, 0x01)).personalize(IOTSAFE_AID, [{ op: 'lock' }, writeFile('after the lock')]),
      refusedWith(0x6985),
    );
    assert.equal(sim.store.personalizationLocked, false);
  });
});
