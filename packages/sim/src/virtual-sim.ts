// A virtual SIM: the card runtime with the IoT SAFE applet, its object store, and (optionally) the
// directory that keeps the store durable. `card` is what a MemoryTransport or any front-end drives.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  bytesToHex,
  DEFAULT_AIDS,
  encodeSendShortMessage,
  equalBytes,
  IOTSAFE_AID,
  type ObjectRef,
  parseCommandApdu,
  type StaticKeys,
  SW,
} from '@iotsafe/protocol';
import { CardError } from './card/card-error.js';
import { CardRuntime } from './card/runtime.js';
import { ProvisioningError } from './errors.js';
import { IsdApplet } from './gp/isd-applet.js';
import { APP_LIFE_CYCLE, CARD_LIFE_CYCLE, ISD_AID, type IsdState, scp03KeySet } from './gp/isd-state.js';
import { SecureChannelService } from './gp/secure-channel.js';
import { IoTSafeApplet } from './iotsafe/applet.js';
import { type Container, checkContainers } from './iotsafe/containers.js';
import { type Personality, personalityByName } from './iotsafe/personality.js';
import { ObjectStore } from './iotsafe/store.js';
import { OtaReceiver, type PorBySmsPolicy } from './ota/receiver.js';
import { containersFromProfile } from './profile.js';
import type { AdminAgent } from './scp81/admin-agent.js';
import { type AdminParametersJson, parseAdminParameters } from './scp81/parameters-json.js';
import {
  adminTriggerHandler,
  createAdminAgent,
  initialScp81State,
  type Scp81Options,
  storedParametersOf,
  storeParametersOf,
} from './scp81/setup.js';
import { removeStaleTemporaries, syncDirectory, writeFileAtomic } from './storage/atomic-file.js';
import { type DirectoryLock, lockDirectory } from './storage/directory-lock.js';
import { deserializeState, type SimState, serializeState } from './storage/sim-state.js';
import { StorageKeyError } from './storage/storage-key.js';
import { defaultFiles, type ElementaryFile, FileSession } from './uicc/file-system.js';

export const STATE_FILE = 'sim.json';

export interface IsdKeyOptions {
  keys: StaticKeys;
  /** Key version number of the set (default 30, the UICC SCP03 range). */
  keyVersion?: number;
  /** SCP03 i parameter (default 70: pseudo-random challenge, R-MAC, R-ENC; 71 for S16). */
  i?: number;
}

export interface SimOptions {
  /** Overrides the profile's personality (a preset name). */
  personality?: string;
  /**
   * The Issuer Security Domain's SCP03 key set. Without it the ISD gets random keys nobody knows:
   * there is no default key.
   */
  isdKeys?: IsdKeyOptions;
  /** Minimum security level of GP management commands (default 01, C-MAC). */
  isdRequiredLevel?: number;
  /** Minimum SCP80 security level (SPI1 mask) for RAM to the ISD over OTA (default 16: cipher, CC, counter). */
  otaMinimumSecurityLevel?: number;
  /** Source of random SCP03 card challenges (tests inject known ones). */
  randomChallenge?: (length: number) => Uint8Array;
  /** Which PoRs may go by SMS-SUBMIT; overrides the profile's (default 'authenticated'). */
  porBySms?: PorBySmsPolicy;
  /** How this process is named to another that finds the SIM directory in use (default: its command line's words). */
  holder?: string;
  /** The SCP81 admin agent (GP Amd B): its key set and parameters at creation, its TLS and timeouts. */
  scp81?: Scp81Options;
}

export type { Scp81Options };

/** A fresh SIM's state: the profile's containers, its personality (or the one asked for), a new ISD. */
function newSimState(profile: unknown, options: SimOptions): SimState {
  const { personality, containers, porBySms, adminParameters } = containersFromProfile(profile);
  const policy = options.porBySms ?? porBySms;
  const isd = newIsdState(options);
  initialScp81State(isd, options.scp81, adminParameters);
  return {
    simId: randomUUID(),
    personality: options.personality ?? personality,
    containers,
    personalizationLocked: false,
    isd,
    ...(policy ? { porBySms: policy } : {}),
  };
}

function newIsdState(options: SimOptions): IsdState {
  const keys = options.isdKeys?.keys ?? { enc: randomKey(), mac: randomKey(), dek: randomKey() };
  const cplc = new Uint8Array(42);
  cplc.set([0x47, 0x90, 0x49, 0x53]); // fabricator / IC type: arbitrary, "IS" for IoT SAFE
  cplc.set(randomBytes(4), 12); // IC serial number
  return {
    keySets: [scp03KeySet(options.isdKeys?.keyVersion ?? 0x30, options.isdKeys?.i ?? 0x70, keys)],
    lifeCycle: CARD_LIFE_CYCLE.SECURED,
    keyDiversificationData: new Uint8Array(randomBytes(10)),
    cplc,
    application: {
      aid: IOTSAFE_AID.slice(),
      lifeCycle: APP_LIFE_CYCLE.SELECTABLE,
      privileges: Uint8Array.of(0x00),
    },
  };
}

function randomKey(): Uint8Array {
  return new Uint8Array(randomBytes(16));
}

export interface DurableSimOptions extends SimOptions {
  /** 32-byte key that seals private keys and secrets (see storageKeyFromEnvironment). */
  storageKey: Uint8Array;
}

export { ProvisioningError };

export class VirtualSim {
  readonly card: CardRuntime;
  /** The SCP80 receiving entity behind ENVELOPE (SMS-PP data download). */
  readonly ota: OtaReceiver;
  readonly store: ObjectStore;
  readonly personality: Personality;

  readonly secureChannel: SecureChannelService;
  /** The ISD's SCP81 admin agent: triggered by an SMS to TAR 000000, or by requestAdminSession. */
  readonly admin: AdminAgent;

  private constructor(
    private readonly state: SimState,
    readonly directory: string | undefined,
    private readonly storageKey: Uint8Array | undefined,
    options: SimOptions = {},
    private lock?: DirectoryLock,
  ) {
    this.personality = personalityByName(state.personality);
    this.store = new ObjectStore(state.containers, () => this.save());
    this.store.personalizationLocked = state.personalizationLocked;
    this.card = new CardRuntime({
      protocol: this.personality.protocol,
      channels: this.personality.channels,
      implicitChannelOpen: this.personality.implicitChannelOpen,
    });
    const isd = state.isd;
    this.secureChannel = new SecureChannelService({
      state: isd,
      sdAid: ISD_AID,
      persist: () => this.save(),
      ...(options.randomChallenge ? { randomChallenge: options.randomChallenge } : {}),
    });
    const application = isd.application;
    const iotsafe = new IoTSafeApplet({
      aids: application && !equalBytes(application.aid, IOTSAFE_AID) ? [application.aid] : DEFAULT_AIDS,
      personality: this.personality,
      store: this.store,
      secureChannel: this.secureChannel,
      selectable: () => {
        const app = isd.application;
        return (
          app !== undefined &&
          app.lifeCycle === APP_LIFE_CYCLE.SELECTABLE &&
          isd.lifeCycle !== CARD_LIFE_CYCLE.CARD_LOCKED &&
          isd.lifeCycle !== CARD_LIFE_CYCLE.TERMINATED
        );
      },
    });
    this.card.install(iotsafe);
    const scp81 = options.scp81 ?? {};
    const isdApplet = new IsdApplet({
      state: isd,
      secureChannel: this.secureChannel,
      application: iotsafe,
      commit: (change) => this.commitIsd(change),
      ...(options.isdRequiredLevel !== undefined ? { requiredLevel: options.isdRequiredLevel } : {}),
      adminParameters: storedParametersOf(() => this.state.isd, scp81),
      storeAdminParameters: storeParametersOf(
        () => this.state.isd,
        (change) => this.commitIsd(change),
        scp81,
      ),
    });
    this.card.install(isdApplet);
    this.admin = createAdminAgent(this.card.toolkit, isdApplet, () => this.state.isd, scp81);
    this.ota = new OtaReceiver({
      targets: new Map([
        // RAM (TS 102 226 §8): the ISD, with its card-management commands; TAR 000000 (TS 101 220 Annex D)
        [
          '000000',
          {
            open: () => (apdu, level, keySet) =>
              isdApplet.processRemote(parseCommandApdu(apdu), { via: 'scp80', level, keySet }),
            // GP Amd B §3.3: the triggering parameters start an SCP81 session; the PoR says it was read
            adminTrigger: adminTriggerHandler(this.admin, scp81),
            ...(options.otaMinimumSecurityLevel !== undefined
              ? { minimumSecurityLevel: options.otaMinimumSecurityLevel }
              : {}),
          },
        ],
        // RFM (TS 102 226 §6): the UICC shared file system, each script starting at the MF
        [
          'B00000',
          {
            open: () => {
              const session = new FileSession(
                () => this.files,
                (change) => this.commitFiles(change),
              );
              return (apdu) => session.process(parseCommandApdu(apdu));
            },
            ...(options.otaMinimumSecurityLevel !== undefined
              ? { minimumSecurityLevel: options.otaMinimumSecurityLevel }
              : {}),
          },
        ],
      ]),
      keySets: () => this.state.isd.keySets,
      sendShortMessage: (tpdu) => this.card.toolkit.post(encodeSendShortMessage(tpdu)),
      ...((options.porBySms ?? state.porBySms) ? { porBySms: options.porBySms ?? state.porBySms } : {}),
      commitCounter: (keySet, counter) =>
        this.commitIsd(() => {
          const set = this.state.isd.keySets.find((s) => s.keyVersion === keySet.keyVersion);
          if (set) set.otaCounter = counter;
        }),
    });
    this.card.toolkit.onSmsPpDownload((data) => this.ota.receive(data));
  }

  /**
   * Starts an admin session as an on-card application would (GP Amd B `requestHTTPAdministrationSession`),
   * with the stored parameters under `trigger`'s.
   */
  requestAdminSession(trigger: Parameters<AdminAgent['trigger']>[0] = {}): void {
    this.admin.trigger(trigger);
  }

  /** Stores the ISD's HTTP administration parameters (the factory's or a host's view), durably. */
  setAdminParameters(parameters: AdminParametersJson): void {
    const parsed = parseAdminParameters(parameters);
    this.commitIsd(() => {
      this.state.isd.adminParameters = parsed;
    });
  }

  /** The UICC files RFM reaches (ICCID, IMSI, SPN, SMSP). */
  get files(): ElementaryFile[] {
    this.state.files ??= defaultFiles();
    return this.state.files;
  }

  /** Applies a change to a file and persists it, or restores the files. */
  private commitFiles(change: () => void): void {
    const before = structuredClone(this.files);
    try {
      change();
      this.save();
    } catch (error) {
      this.state.files = before;
      if (error instanceof CardError) throw error;
      throw new CardError(SW.MEMORY_FAILURE, 'the card state could not be written');
    }
  }

  /** Applies a change to the ISD (and possibly the applet's store) and persists it, or restores both. */
  private commitIsd(change: () => void): void {
    const isdBefore = structuredClone(this.state.isd);
    const containersBefore = structuredClone(this.store.containers);
    const lockBefore = this.store.personalizationLocked;
    try {
      change();
      this.save();
    } catch (error) {
      Object.assign(this.state.isd, isdBefore);
      if (!isdBefore.application) delete this.state.isd.application;
      this.store.containers.splice(0, this.store.containers.length, ...containersBefore);
      this.store.personalizationLocked = lockBefore;
      if (error instanceof CardError) throw error;
      throw new CardError(SW.MEMORY_FAILURE, 'the card state could not be written');
    }
  }

  /** The ISD's state: key sets, life cycle, registry (host-side inspection; tests). */
  get isd(): IsdState {
    return this.state.isd;
  }

  get simId(): string {
    return this.state.simId;
  }

  /** A SIM that lives only in memory (tests, benchmarks, the fuzzer). */
  static inMemory(profile: unknown, options: SimOptions = {}): VirtualSim {
    return new VirtualSim(newSimState(profile, options), undefined, undefined, options);
  }

  /** Creates a SIM directory from a profile. The directory must not exist or be empty; creation is atomic. */
  static create(directory: string, profile: unknown, options: DurableSimOptions): VirtualSim {
    checkKey(options.storageKey);
    const target = resolve(directory);
    if (existsSync(target) && readdirSync(target).length > 0) {
      throw new ProvisioningError(`${target} exists and is not empty`);
    }
    const state = newSimState(profile, options);
    personalityByName(state.personality);
    mkdirSync(dirname(target), { recursive: true });
    const staging = mkdtempSync(join(dirname(target), `.${basename(target)}.creating-`));
    let lock: DirectoryLock | undefined;
    try {
      writeFileAtomic(join(staging, STATE_FILE), serializeState(state, options.storageKey));
      lock = lockDirectory(staging, options.holder); // the lock moves in with the state
      if (existsSync(target)) rmSync(target, { recursive: true });
      renameSync(staging, target);
      lock.movedTo(target);
      syncDirectory(dirname(target));
    } catch (error) {
      lock?.release();
      rmSync(staging, { recursive: true, force: true });
      throw error;
    }
    return new VirtualSim(state, target, options.storageKey, options, lock);
  }

  /** Opens an existing SIM directory. */
  static open(directory: string, options: DurableSimOptions): VirtualSim {
    checkKey(options.storageKey);
    const target = resolve(directory);
    const file = join(target, STATE_FILE);
    if (!existsSync(file)) throw new ProvisioningError(`${target} is not a SIM directory (no ${STATE_FILE})`);
    const lock = lockDirectory(target, options.holder);
    try {
      removeStaleTemporaries(file); // only the owner may: a live writer's temporary is not stale
      const state = deserializeState(readFileSync(file, 'utf8'), options.storageKey);
      if (options.personality) state.personality = options.personality;
      return new VirtualSim(state, target, options.storageKey, options, lock);
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  /**
   * Gives the SIM directory up: another process (or VirtualSim) may open it now; this one changes it no
   * more (a command that would change it is answered 6581). The lock also goes when the process exits.
   */
  close(): void {
    this.admin.stop();
    this.lock?.release();
    this.lock = undefined;
    this.closed = true;
  }

  private closed = false;

  private save(): void {
    if (!this.directory || !this.storageKey) return;
    if (this.closed) throw new ProvisioningError(`${this.directory} was closed: the change is not saved`);
    this.state.personalizationLocked = this.store.personalizationLocked;
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
