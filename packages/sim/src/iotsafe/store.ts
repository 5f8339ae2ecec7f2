// The object store the applet works on. Every change goes through `change()`, which applies it, asks
// the owner to persist it (for persistent containers), and undoes it if persisting fails — so a failed
// write leaves the card exactly as it was.
import { type ObjectClass, type ObjectRef, type PersoLockScope, SW } from '@iotsafe/protocol';
import { CardError } from '../card/card-error.js';
import { type Container, type ContainerOf, isVolatile, matchesRef } from './containers.js';

/** The applet's personalisation: open, or locked admitting only what its scope names. */
export type PersoLock = false | PersoLockScope;

/** A lock is for good and only narrows: 'ota' stays 'ota'; a first lock or 'ota' over 'issuer' sets it. */
export function narrowedLock(current: PersoLock, next: PersoLock): PersoLock {
  if (current === 'ota' || next === false) return current;
  return next;
}

export type PersistHook = (containers: readonly Container[]) => void;

export class ObjectStore {
  /** Incremented by every committed change (the fuzzer checks that only legal commands move it). */
  version = 0;
  /** Set by the personalisation lock DGI (A0FF): false while open, else what the lock still admits. */
  personalizationLocked: PersoLock = false;

  constructor(
    readonly containers: Container[],
    private readonly persist: PersistHook = () => {},
  ) {}

  find<C extends ObjectClass>(objectClass: C, ref: ObjectRef): ContainerOf<C> | undefined {
    return this.containers.find((c) => c.objectClass === objectClass && matchesRef(c, ref)) as
      | ContainerOf<C>
      | undefined;
  }

  ofClass<C extends ObjectClass>(objectClass: C): ContainerOf<C>[] {
    return this.containers.filter((c) => c.objectClass === objectClass) as ContainerOf<C>[];
  }

  /** Applies `apply` to the containers it names; persists when any of them is persistent. */
  change(targets: readonly Container[], apply: () => void): void {
    const before = targets.map((c) => ({ ...c }));
    apply();
    if (targets.some((c) => !isVolatile(c))) {
      try {
        this.persist(this.containers);
      } catch {
        targets.forEach((c, i) => {
          for (const key of Object.keys(c)) delete (c as unknown as Record<string, unknown>)[key];
          Object.assign(c, before[i]);
        });
        throw new CardError(SW.MEMORY_FAILURE, 'the store could not be written');
      }
    }
    this.version++;
  }

  /** Replaces every container at once (personalisation, install, delete), persisted or not at all. */
  replaceAll(next: Container[], personalizationLocked: PersoLock = this.personalizationLocked): void {
    const previous = this.containers.splice(0, this.containers.length, ...next);
    const previousLock = this.personalizationLocked;
    this.personalizationLocked = personalizationLocked;
    try {
      this.persist(this.containers);
    } catch {
      this.containers.splice(0, this.containers.length, ...previous);
      this.personalizationLocked = previousLock;
      throw new CardError(SW.MEMORY_FAILURE, 'the store could not be written');
    }
    this.version++;
  }

  /** Card reset: volatile key containers lose their content. */
  clearVolatile(): void {
    for (const c of this.containers) {
      if (!isVolatile(c)) continue;
      if (c.objectClass === 'privateKey') {
        c.privateKey?.fill(0);
        c.privateKey = undefined;
        c.publicKey = undefined;
      } else if (c.objectClass === 'publicKey') c.publicKey = undefined;
    }
  }
}
