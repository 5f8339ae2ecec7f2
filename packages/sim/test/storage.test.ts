import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { bytesToHex, hexToBytes } from '@iotsafe/protocol';
import {
  newStorageKey,
  ProfileError,
  ProvisioningError,
  readStorageKeyFile,
  STATE_FILE,
  StorageKeyError,
  storageKeyFromEnvironment,
  TYPE1_PROFILE,
  TYPE2_PROFILE,
  VirtualSim,
} from '@iotsafe/sim';
import { send, TEST_PROFILE } from '../../../test/helpers/cards.js';

const root = mkdtempSync(join(tmpdir(), 'iotsafe-storage-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `sim-${n++}`);

describe('a SIM is a directory', () => {
  test('create then open gives the same keys, files and secrets', () => {
    const storageKey = newStorageKey();
    const dir = freshDir();
    const created = VirtualSim.create(dir, TEST_PROFILE, { storageKey });
    created.close();
    const opened = VirtualSim.open(dir, { storageKey });
    const summary = (s: VirtualSim) =>
      s.containers().map((c) =>
        Object.entries(c)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, v]) => `${k}=${v instanceof Uint8Array ? bytesToHex(v) : v}`)
          .join(' '),
      );
    assert.deepEqual(summary(opened), summary(created));
    assert.equal(opened.simId, created.simId);
  });
  test('private keys and secrets are encrypted at rest; volatile contents never reach the disk', () => {
    const storageKey = newStorageKey();
    const dir = freshDir();
    const sim = VirtualSim.create(dir, TEST_PROFILE, { storageKey });
    send(sim.card, '00A4040007A0000005590010');
    send(sim.card, '80B9000003840104'); // volatile ephemeral key
    const onDisk = readFileSync(join(dir, STATE_FILE), 'utf8');
    for (const c of sim.containers()) {
      if (c.objectClass === 'privateKey' && c.privateKey)
        assert.ok(!onDisk.includes(bytesToHex(c.privateKey)), 'private key in clear');
      if (c.objectClass === 'secret' && c.value)
        assert.ok(!onDisk.toUpperCase().includes(bytesToHex(c.value)), 'secret in clear');
    }
    sim.writeFile({ id: hexToBytes('02') }, new Uint8Array([1, 2, 3]));
    sim.close();
    const reopened = VirtualSim.open(dir, { storageKey });
    const ephemeral = reopened
      .containers()
      .find((c) => c.objectClass === 'privateKey' && bytesToHex(c.id) === '04');
    assert.equal(ephemeral?.objectClass === 'privateKey' ? ephemeral.privateKey : 'x', undefined);
  });
  test('a key generated on the card survives a reopen', () => {
    const storageKey = newStorageKey();
    const dir = freshDir();
    const sim = VirtualSim.create(dir, TYPE1_PROFILE, { storageKey });
    send(sim.card, '00A4040007A0000005590010');
    const generated = send(sim.card, '80B9000003840101').data.slice(-130);
    sim.close();
    const reopened = VirtualSim.open(dir, { storageKey });
    send(reopened.card, '00A4040007A0000005590010');
    assert.equal(send(reopened.card, '80CD000003850101').data.slice(-130), generated);
  });
  test('Type II has secrets only', () => {
    const sim = VirtualSim.create(freshDir(), TYPE2_PROFILE, { storageKey: newStorageKey() });
    assert.ok(sim.containers().every((c) => c.objectClass === 'secret' && c.value?.length === 32));
  });
});

describe('storage key errors are clear', () => {
  test('a wrong key is refused at open, naming the cause', () => {
    const dir = freshDir();
    VirtualSim.create(dir, TYPE1_PROFILE, { storageKey: newStorageKey() }).close();
    assert.throws(
      () => VirtualSim.open(dir, { storageKey: newStorageKey() }),
      (e: Error) => e instanceof StorageKeyError && /wrong storage key/.test(e.message),
    );
  });
  test('a missing key names both environment variables; a malformed one says what is expected', () => {
    assert.throws(
      () => storageKeyFromEnvironment({}),
      (e: Error) =>
        e instanceof StorageKeyError &&
        /IOTSAFE_STORAGE_KEY\b/.test(e.message) &&
        /IOTSAFE_STORAGE_KEY_FILE/.test(e.message),
    );
    assert.throws(() => storageKeyFromEnvironment({ IOTSAFE_STORAGE_KEY: 'abc' }), /64 hex digits/);
    const file = join(root, 'bad.key');
    writeFileSync(file, 'not a key');
    assert.throws(() => storageKeyFromEnvironment({ IOTSAFE_STORAGE_KEY_FILE: file }), /64 hex digits/);
    assert.throws(
      () => storageKeyFromEnvironment({ IOTSAFE_STORAGE_KEY_FILE: join(root, 'absent.key') }),
      /ENOENT/,
    );
    const good = join(root, 'good.key');
    writeFileSync(good, `${'ab'.repeat(32)}\n`);
    assert.equal(storageKeyFromEnvironment({ IOTSAFE_STORAGE_KEY_FILE: good }).length, 32);
  });
  test('a key file others can read gets a warning, as ssh gives; an owner-only one none', async () => {
    const warnings: Error[] = [];
    const listener = (w: Error) => warnings.push(w);
    process.on('warning', listener);
    const loose = join(root, 'loose.key');
    writeFileSync(loose, `${'cd'.repeat(32)}\n`, { mode: 0o644 });
    chmodSync(loose, 0o644);
    assert.equal(readStorageKeyFile(loose).length, 32);
    const tight = join(root, 'tight.key');
    writeFileSync(tight, `${'cd'.repeat(32)}\n`, { mode: 0o600 });
    readStorageKeyFile(tight);
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    process.off('warning', listener);
    const mine = warnings.filter((w) => /(loose|tight)\.key/.test(w.message));
    assert.equal(mine.length, 1);
    assert.equal((mine[0] as Error & { code?: string }).code, 'IOTSAFE_KEY_FILE_READABLE');
    assert.match(mine[0]!.message, /loose\.key can be read by others \(mode 0644\).*chmod 600/);
    assert.ok(!mine[0]!.message.includes('cd'.repeat(32)));
  });
  test('a sealed value moved to another container does not decrypt', () => {
    const storageKey = newStorageKey();
    const dir = freshDir();
    VirtualSim.create(dir, TEST_PROFILE, { storageKey }).close();
    const state = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8'));
    const secrets = state.containers.filter((c: { value?: string }) => c.value);
    [secrets[0].value, secrets[1].value] = [secrets[1].value, secrets[0].value];
    writeFileSync(join(dir, STATE_FILE), JSON.stringify(state));
    assert.throws(() => VirtualSim.open(dir, { storageKey }), StorageKeyError);
  });
  test('the key is never in an error message', () => {
    const dir = freshDir();
    const storageKey = newStorageKey();
    VirtualSim.create(dir, TYPE1_PROFILE, { storageKey }).close();
    try {
      VirtualSim.open(dir, { storageKey: newStorageKey() });
    } catch (error) {
      assert.ok(!(error as Error).message.includes(bytesToHex(storageKey)));
    }
  });
});

describe('profiles and directories', () => {
  test('a profile error lists each problem with its path', () => {
    const bad = {
      containers: [
        { class: 'privateKey', id: 'XYZ' },
        { class: 'file', id: '01', usage: 'nope' },
        { class: 'gizmo', id: '01' },
      ],
    };
    assert.throws(
      () => VirtualSim.inMemory(bad),
      (e: Error) =>
        e instanceof ProfileError &&
        /containers\.0\.id/.test(e.message) &&
        /containers\.1\.usage/.test(e.message),
    );
    assert.throws(
      () =>
        VirtualSim.inMemory({
          containers: [
            { class: 'file', id: '01' },
            { class: 'file', id: '01' },
          ],
        }),
      /two file containers have ID 01/,
    );
    assert.throws(
      () =>
        VirtualSim.inMemory({
          containers: [{ class: 'privateKey', id: '01', key: { privateKeyHex: '00' } }],
        }),
      ProfileError,
    );
    assert.throws(() => VirtualSim.inMemory({ personality: 'nokia', containers: [] }), /unknown personality/);
  });
  test('creating over a non-empty directory is refused', () => {
    const dir = freshDir();
    VirtualSim.create(dir, TYPE1_PROFILE, { storageKey: newStorageKey() });
    assert.throws(
      () => VirtualSim.create(dir, TYPE1_PROFILE, { storageKey: newStorageKey() }),
      ProvisioningError,
    );
    assert.throws(
      () => VirtualSim.open(join(root, 'nothing-here'), { storageKey: newStorageKey() }),
      ProvisioningError,
    );
  });
  test('a failed write answers 6581 and leaves the card as it was', () => {
    const storageKey = newStorageKey();
    const dir = freshDir();
    const sim = VirtualSim.create(dir, TYPE1_PROFILE, { storageKey });
    send(sim.card, '00A4040007A0000005590010');
    const before = send(sim.card, '80CD000003850101').data;
    const version = sim.store.version;
    rmSync(dir, { recursive: true });
    assert.equal(send(sim.card, '80B9000003840101').sw, '6581');
    assert.equal(send(sim.card, '80CD000003850101').data, before);
    assert.equal(sim.store.version, version);
    assert.deepEqual(sim.checkConsistency(), []);
  });
});
