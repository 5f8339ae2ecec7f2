// A virtual SIM: the card runtime with the IoT SAFE applet, its object store, and (optionally) the
// directory that keeps the store durable. `card` is what a MemoryTransport or any front-end drives.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { bytesToHex, DEFAULT_AIDS, type ObjectRef } from '@iotsafe/protocol';
import { CardRuntime } from './card/runtime.js';
import { IoTSafeApplet } from './iotsafe/applet.js';
import { type Container, checkContainers } from './iotsafe/containers.js';
import { type Personality, personalityByName } from './iotsafe/personality.js';
import { ObjectStore } from './iotsafe/store.js';
import { containersFromProfile } from './profile.js';
import { removeStaleTemporaries, syncDirectory, writeFileAtomic } from './storage/atomic-file.js';
import { deserializeState, type SimState, serializeState } from './storage/sim-state.js';
import { StorageKeyError } from './storage/storage-key.js';

export const STATE_FILE = 'sim.json';

export interface SimOptions {
  /** Overrides the profile's personality (a preset name). */
  personality?: string;
}

export interface DurableSimOptions extends SimOptions {
  /** 32-byte key that seals private keys and secrets (see storageKeyFromEnvironment). */
  storageKey: Uint8Array;
}

/** Host-side management refused (unknown container, wrong class, content too large). */
export class ProvisioningError extends Error {
  override name = 'ProvisioningError';
}

export class VirtualSim {
  readonly card: CardRuntime;
  readonly store: ObjectStore;
  readonly personality: Personality;

  private constructor(
    private readonly state: SimState,
    readonly directory: string | undefined,
    private readonly storageKey: Uint8Array | undefined,
  ) {
    this.personality = personalityByName(state.personality);
    this.store = new ObjectStore(state.containers, () => this.save());
    this.card = new CardRuntime({
      protocol: this.personality.protocol,
      channels: this.personality.channels,
      implicitChannelOpen: this.personality.implicitChannelOpen,
    });
    this.card.install(
      new IoTSafeApplet({ aids: DEFAULT_AIDS, personality: this.personality, store: this.store }),
    );
  }

  get simId(): string {
    return this.state.simId;
  }

  /** A SIM that lives only in memory (tests, benchmarks, the fuzzer). */
  static inMemory(profile: unknown, options: SimOptions = {}): VirtualSim {
    const { personality, containers } = containersFromProfile(profile);
    return new VirtualSim(
      { simId: randomUUID(), personality: options.personality ?? personality, containers },
      undefined,
      undefined,
    );
  }

  /** Creates a SIM directory from a profile. The directory must not exist or be empty; creation is atomic. */
  static create(directory: string, profile: unknown, options: DurableSimOptions): VirtualSim {
    checkKey(options.storageKey);
    const target = resolve(directory);
    if (existsSync(target) && readdirSync(target).length > 0) {
      throw new ProvisioningError(`${target} exists and is not empty`);
    }
    const { personality, containers } = containersFromProfile(profile);
    const state: SimState = {
      simId: randomUUID(),
      personality: options.personality ?? personality,
      containers,
    };
    personalityByName(state.personality);
    mkdirSync(dirname(target), { recursive: true });
    const staging = mkdtempSync(join(dirname(target), `.${basename(target)}.creating-`));
    try {
      writeFileAtomic(join(staging, STATE_FILE), serializeState(state, options.storageKey));
      if (existsSync(target)) rmSync(target, { recursive: true });
      renameSync(staging, target);
      syncDirectory(dirname(target));
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      throw error;
    }
    return new VirtualSim(state, target, options.storageKey);
  }

  /** Opens an existing SIM directory. */
  static open(directory: string, options: DurableSimOptions): VirtualSim {
    checkKey(options.storageKey);
    const target = resolve(directory);
    const file = join(target, STATE_FILE);
    if (!existsSync(file)) throw new ProvisioningError(`${target} is not a SIM directory (no ${STATE_FILE})`);
    removeStaleTemporaries(file);
    const state = deserializeState(readFileSync(file, 'utf8'), options.storageKey);
    if (options.personality) state.personality = options.personality;
    return new VirtualSim(state, target, options.storageKey);
  }

  private save(): void {
    if (!this.directory || !this.storageKey) return;
    writeFileAtomic(join(this.directory, STATE_FILE), serializeState(this.state, this.storageKey));
  }

  // --- Host-side provisioning (the factory's view; over the air this arrives with SCP03/SCP80) ---

  /** Replaces a file container's content, durably. */
  writeFile(ref: ObjectRef, content: Uint8Array): void {
    const file = this.store.find('file', ref);
    if (!file) throw new ProvisioningError(`no file container with ${describeRef(ref)}`);
    if (content.length > 0xffff) throw new ProvisioningError('a file holds at most 65535 bytes');
    this.store.change([file], () => {
      file.content = content.slice();
    });
  }

  /** Descriptions of every container, as the card would list them (no secret material). */
  containers(): readonly Container[] {
    return this.store.containers;
  }

  checkConsistency(): string[] {
    return checkContainers(this.store.containers);
  }
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== 32)
    throw new StorageKeyError('the storage key must be 32 bytes');
}

function describeRef(ref: ObjectRef): string {
  return 'id' in ref ? `ID ${bytesToHex(ref.id)}` : `label "${ref.label}"`;
}
