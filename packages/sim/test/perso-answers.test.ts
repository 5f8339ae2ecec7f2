// The answers of the personalisation format (docs/perso-format.md) a remote operation needs: A003's
// generated public point, A005's object list, A006's signature of a CertificationRequestInfo — made
// only for the container's own public key, by a key allowed to sign.
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  decodeBerTlvs,
  decodeObjectList,
  derBitString,
  derContext,
  derOid,
  derSequence,
  derSmallInteger,
  derUtf8String,
  OID,
  type PersoOperation,
} from '@iotsafe/protocol';
import { VirtualSim } from '@iotsafe/sim';
import { TEST_PROFILE } from '../../../test/helpers/cards.js';
import { CardError } from '../src/card/card-error.js';
import { applyPersonalization } from '../src/iotsafe/personalization.js';

const containers = () => [...VirtualSim.inMemory(TEST_PROFILE).containers()];
const spki = (point: Uint8Array) =>
  derSequence(derSequence(derOid(OID.ecPublicKey), derOid(OID.prime256v1)), derBitString(point));
const requestInfo = (point: Uint8Array) =>
  derSequence(
    derSmallInteger(0),
    derSequence(derSequence(derOid(OID.commonName), derUtf8String('device'))),
    spki(point),
    derContext(0, new Uint8Array(0)),
  );
const key = (id: number) => ({ id: Uint8Array.of(id) });
const fields = (answer: Uint8Array) =>
  new Map(decodeBerTlvs(decodeBerTlvs(answer)[0]!.value).map((t) => [t.tag, t.value]));

describe('perso answers', () => {
  test('A003 answers with the new public point, A005 with the list as it stands at that point', () => {
    const ops: PersoOperation[] = [{ op: 'generate', ref: key(1) }, { op: 'list' }];
    const result = applyPersonalization(containers(), ops);
    const [generated, ...listed] = decodeBerTlvs(result.answer);
    assert.equal(generated!.tag, 0xc1);
    const point = new Map(decodeBerTlvs(generated!.value).map((t) => [t.tag, t.value])).get(0xd8)!;
    const stored = result.containers.find((c) => c.objectClass === 'privateKey' && c.id[0] === 1);
    assert.deepEqual(stored?.objectClass === 'privateKey' && [...stored.publicKey!], [...point]);
    const list = decodeObjectList(result.answer.subarray(generated!.value.length + 2));
    assert.equal(list.length, result.containers.length);
    assert.equal(listed.length, result.containers.length);
    assert.ok(!list.some((d) => 'privateKey' in d || 'value' in d), 'descriptors only');
  });

  test('A006 signs a request for the key it names, and only that', () => {
    const current = containers();
    const device = current.find((c) => c.objectClass === 'privateKey' && c.id[0] === 1);
    assert.ok(device?.objectClass === 'privateKey' && device.publicKey);
    const info = requestInfo(device.publicKey);
    const { answer } = applyPersonalization(current, [{ op: 'signRequest', ref: key(1), requestInfo: info }]);
    const signature = fields(answer).get(0xdb)!;
    const publicKey = createPublicKey({
      key: Buffer.from(spki(device.publicKey)),
      format: 'der',
      type: 'spki',
    });
    assert.equal(verify('sha256', info, publicKey, signature), true);
    const other = current.find((c) => c.objectClass === 'privateKey' && c.id[0] === 8);
    assert.ok(other?.objectClass === 'privateKey' && other.publicKey);
    const refuse = (ops: PersoOperation[]) => {
      try {
        applyPersonalization(current, ops);
        return 'accepted';
      } catch (error) {
        return error instanceof CardError ? error.sw.toString(16) : String(error);
      }
    };
    assert.equal(
      refuse([{ op: 'signRequest', ref: key(1), requestInfo: requestInfo(other.publicKey) }]),
      '6a80',
    );
    assert.equal(
      refuse([{ op: 'signRequest', ref: key(1), requestInfo: derSequence(derSmallInteger(0)) }]),
      '6a80',
    );
    assert.equal(
      refuse([{ op: 'signRequest', ref: key(0x0a), requestInfo: info }]),
      '6985',
      'a key that may not sign',
    );
    assert.equal(refuse([{ op: 'signRequest', ref: key(0x0b), requestInfo: info }]), '6985', 'an empty key');
  });
});
