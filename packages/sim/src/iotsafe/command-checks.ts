// Checks the IoT SAFE command handlers share (GSMA IoT.05 §3): parameters, data, containers, sessions.
// Each throws CardError with the status word the applet answers; none changes anything.
import { type CommandApdu, type CurveName, type ObjectClass, type ObjectRef, SW } from '@iotsafe/protocol';
import { type AppletResponse, ok } from '../card/applet.js';
import { fail } from '../card/card-error.js';
import { type Container, curveOfKeyType, isActivated } from './containers.js';
import type { SessionTable } from './sessions.js';
import type { ObjectStore } from './store.js';

export function requireP1P2(apdu: CommandApdu, p1: number, p2: number): void {
  if (apdu.p1 !== p1 || apdu.p2 !== p2) fail(SW.INCORRECT_P1P2);
}

export function requireData(apdu: CommandApdu): void {
  if (apdu.data.length === 0) fail(SW.WRONG_LENGTH, 'command data is required');
}

export function requireNoData(apdu: CommandApdu): void {
  if (apdu.data.length !== 0) fail(SW.WRONG_LENGTH, 'this command takes no data');
}

export function findContainer<C extends ObjectClass>(store: ObjectStore, objectClass: C, ref: ObjectRef) {
  return store.find(objectClass, ref) ?? fail(SW.NOT_FOUND, `no ${objectClass} with that reference`);
}

export function requireActivated(c: Container): void {
  if (!isActivated(c)) fail(SW.CONDITIONS_NOT_SATISFIED, 'the container is empty');
}

export function curveOf(c: { keyType: number }): CurveName {
  return curveOfKeyType(c.keyType) ?? fail(SW.CONDITIONS_NOT_SATISFIED, 'unsupported key type');
}

/** An UPDATE command's P1: 80 last block, 00 more to come (IoT.05 §3.6–§3.8). */
export function updateFlag(apdu: CommandApdu): boolean {
  if (apdu.p1 !== 0x80 && apdu.p1 !== 0x00) fail(SW.INCORRECT_P1P2);
  requireData(apdu);
  return apdu.p1 === 0x80;
}

/** INIT P1=01: closes session P2; an unopened one answers what the personality says. */
export function closeSession(
  apdu: CommandApdu,
  table: SessionTable<unknown>,
  unopenedSw: number,
): AppletResponse {
  requireNoData(apdu);
  if (table.close(apdu.p2)) return ok();
  return unopenedSw === SW.OK ? ok() : fail(unopenedSw, `session ${apdu.p2} is not open`);
}
