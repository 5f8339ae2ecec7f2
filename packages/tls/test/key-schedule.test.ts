// The TLS 1.3 key schedule against RFC 8448 §3 (test/fixtures/rfc8448-simple-1rtt.json).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { bytesToHex, hexToBytes, hkdfExtract } from '@iotsafe/protocol';
import { deriveSecret, emptyHash, expandLabel, finishedVerifyData, trafficKeys } from '@iotsafe/tls';

const v: Record<string, string> = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/rfc8448-simple-1rtt.json', import.meta.url), 'utf8'),
);
const h = (name: string) => hexToBytes(v[name]!);
const hex = (b: Uint8Array) => bytesToHex(b).toLowerCase();
const zeros = new Uint8Array(32);

test('early, handshake and master secrets', () => {
  const early = hkdfExtract('sha256', zeros, zeros);
  assert.equal(hex(early), v.early_secret);
  const derived = deriveSecret('sha256', early, 'derived', emptyHash('sha256'));
  assert.equal(hex(derived), v.derived_for_handshake);
  const handshake = hkdfExtract('sha256', derived, h('ecdhe_shared_secret'));
  assert.equal(hex(handshake), v.handshake_secret);
  const derived2 = deriveSecret('sha256', handshake, 'derived', emptyHash('sha256'));
  assert.equal(hex(derived2), v.derived_for_master);
  assert.equal(hex(hkdfExtract('sha256', derived2, zeros)), v.master_secret);
});

test('handshake traffic secrets, keys, IVs and finished keys', () => {
  const hs = h('handshake_secret');
  const client = deriveSecret('sha256', hs, 'c hs traffic', h('transcript_hash_ch_sh'));
  const server = deriveSecret('sha256', hs, 's hs traffic', h('transcript_hash_ch_sh'));
  assert.equal(hex(client), v.client_handshake_traffic_secret);
  assert.equal(hex(server), v.server_handshake_traffic_secret);
  const ck = trafficKeys('sha256', client, 16);
  const sk = trafficKeys('sha256', server, 16);
  assert.deepEqual(
    [hex(ck.key), hex(ck.iv), hex(sk.key), hex(sk.iv)],
    [v.client_handshake_key, v.client_handshake_iv, v.server_handshake_key, v.server_handshake_iv],
  );
  assert.equal(hex(expandLabel('sha256', client, 'finished', new Uint8Array(0), 32)), v.client_finished_key);
  assert.equal(hex(expandLabel('sha256', server, 'finished', new Uint8Array(0), 32)), v.server_finished_key);
});

test('application traffic secrets, keys and IVs', () => {
  const master = h('master_secret');
  const client = deriveSecret('sha256', master, 'c ap traffic', h('transcript_hash_ch_server_finished'));
  const server = deriveSecret('sha256', master, 's ap traffic', h('transcript_hash_ch_server_finished'));
  assert.equal(hex(client), v.client_application_traffic_secret);
  assert.equal(hex(server), v.server_application_traffic_secret);
  const ck = trafficKeys('sha256', client, 16);
  const sk = trafficKeys('sha256', server, 16);
  assert.deepEqual(
    [hex(ck.key), hex(ck.iv), hex(sk.key), hex(sk.iv)],
    [v.client_application_key, v.client_application_iv, v.server_application_key, v.server_application_iv],
  );
});

test('client Finished verify_data (RFC 8448 §3), and any other transcript gives another value', () => {
  const client = h('client_handshake_traffic_secret');
  const transcript = h('transcript_hash_ch_server_finished');
  assert.equal(hex(finishedVerifyData('sha256', client, transcript)), v.client_finished_verify_data);
  const altered = transcript.slice();
  altered[0]! ^= 1;
  assert.notEqual(hex(finishedVerifyData('sha256', client, altered)), v.client_finished_verify_data);
});
