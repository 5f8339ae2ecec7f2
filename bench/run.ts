// npm run bench: in-process IoT SAFE throughput, and the card layer's cost over the bare crypto.
import { createECDH, createPrivateKey, sign } from 'node:crypto';
import { byId, GlobalPlatform, IoTSafe, MemoryTransport, openScp03 } from '@iotsafe/device';
import {
  derBitString,
  derContext,
  derOctetString,
  derOid,
  derSequence,
  derSmallInteger,
  hexToBytes,
  IOTSAFE_AID,
  OID,
  signDigest,
} from '@iotsafe/protocol';
import { type Container, TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { GP_TEST_KEYS } from '../test/helpers/cards.js';
import { coapBenchmarks } from './coap.js';
import { dtlsBenchmarks } from './dtls.js';
import { fleetBenchmarks } from './fleet.js';
import { measure, printTable } from './harness.js';
import { otaBenchmarks } from './ota.js';
import { pkiBenchmarks } from './pki.js';
import { rotationBenchmarks } from './rotation.js';
import { scp81Benchmarks } from './scp81.js';
import { tlsBenchmarks } from './tls.js';
import { tlsBulkBenchmarks } from './tls-bulk.js';
import { tlsCardProfileBenchmarks } from './tls-card-profile.js';
import { tlsLatencyBenchmarks } from './tls-latency.js';
import { transportBenchmarks } from './transports.js';

const sim = VirtualSim.inMemory(TYPE1_PROFILE);
const card = sim.card;
const apdu = (hex: string) => hexToBytes(hex);
card.transmit(apdu('00A4040007A0000005590010'));

// Card-side setup: an ephemeral key pair and a peer public key for COMPUTE DH.
card.transmit(apdu('80B9000003840104'));
const peer = createECDH('prime256v1');
peer.generateKeys();
const put = (hex: string) => card.transmit(apdu(hex));
put('8024000303850105');
put(`80D8800347344549438641${peer.getPublicKey('hex').toUpperCase()}`);
put('8024010300');

const getRandom = apdu('8084000010');
const signInit = apdu('802A00010D840101A1010391020001920104');
const signUpdate = apdu(`802B8001229E20${'5A'.repeat(32)}`);
const signClose = apdu('802A010100');
const dh = apdu('8046000006840104850105');

// The same key, outside the card, for the baselines.
const key = sim
  .containers()
  .find(
    (c): c is Extract<Container, { objectClass: 'privateKey' }> =>
      c.objectClass === 'privateKey' && c.id[0] === 1,
  )!;
const sec1 = derSequence(
  derSmallInteger(1),
  derOctetString(key.privateKey!),
  derContext(0, derOid(OID.prime256v1)),
  derContext(1, derBitString(key.publicKey!)),
);
const nodeKey = createPrivateKey({ key: Buffer.from(sec1), format: 'der', type: 'sec1' });
const message = new Uint8Array(32).fill(0x5a);
const nodeEcdh = createECDH('prime256v1');
nodeEcdh.generateKeys();

function cardSign(): void {
  card.transmit(signInit);
  card.transmit(signUpdate);
  card.transmit(signClose);
}

const client = await IoTSafe.connect(new MemoryTransport(card));

const results = {
  random: await measure('GET RANDOM(16)', () => card.transmit(getRandom)),
  nodeSign: await measure('node:crypto sign (baseline)', () =>
    sign('sha256', message, { key: nodeKey, dsaEncoding: 'ieee-p1363' }),
  ),
  digestSign: await measure('signDigest, no card (baseline)', () =>
    signDigest('p256', key.privateKey!, message),
  ),
  cardSign: await measure('sign: INIT + UPDATE + close', cardSign),
  nodeDh: await measure('node:crypto ECDH (baseline)', () => nodeEcdh.computeSecret(peer.getPublicKey())),
  dh: await measure('COMPUTE DH', () => card.transmit(dh)),
  list: await measure('listObjects (client, 1 page)', () => client.listObjects()),
  clientSign: await measure('client.sign (pad-and-sign)', () => client.sign(byId('01'), { digest: message })),
};

const fmt = (n: number) => (n >= 1000 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
printTable('In-process IoT SAFE (virtual SIM, one core)', [
  {
    name: results.random.name,
    value: fmt(results.random.opsPerSecond),
    unit: 'APDU/s',
    target: '>= 100,000 APDU/s',
  },
  { name: results.cardSign.name, value: fmt(results.cardSign.opsPerSecond * 3), unit: 'APDU/s', ratio: '' },
  { name: 'sign through the card', value: fmt(results.cardSign.opsPerSecond), unit: 'sig/s' },
  { name: results.dh.name, value: fmt(results.dh.opsPerSecond), unit: 'APDU/s' },
  { name: results.list.name, value: fmt(results.list.opsPerSecond), unit: 'lists/s' },
  { name: results.clientSign.name, value: fmt(results.clientSign.opsPerSecond), unit: 'sig/s' },
]);
printTable('Card-layer overhead (time per operation, lower ratio is better)', [
  {
    name: results.nodeSign.name,
    value: results.nodeSign.microseconds.toFixed(1),
    unit: 'µs',
    ratio: '1.00x',
  },
  {
    name: results.digestSign.name,
    value: results.digestSign.microseconds.toFixed(1),
    unit: 'µs',
    ratio: ratio(results.digestSign.microseconds, results.nodeSign.microseconds),
  },
  {
    name: 'sign through the card (3 APDUs)',
    value: results.cardSign.microseconds.toFixed(1),
    unit: 'µs',
    ratio: ratio(results.cardSign.microseconds, results.nodeSign.microseconds),
    target: '<= 1.3x node sign',
  },
  {
    name: '  card layer alone (vs signDigest)',
    value: (results.cardSign.microseconds - results.digestSign.microseconds).toFixed(1),
    unit: 'µs',
    ratio: ratio(results.cardSign.microseconds, results.digestSign.microseconds),
  },
  { name: results.nodeDh.name, value: results.nodeDh.microseconds.toFixed(1), unit: 'µs', ratio: '1.00x' },
  {
    name: 'COMPUTE DH through the card',
    value: results.dh.microseconds.toFixed(1),
    unit: 'µs',
    ratio: ratio(results.dh.microseconds, results.nodeDh.microseconds),
  },
]);

// --- SCP03: the same IoT SAFE APDU plain and protected, in one run; secure-channel opens ---
const gpSim = VirtualSim.inMemory(TYPE1_PROFILE, { isdKeys: { keys: GP_TEST_KEYS } });
const plainTransport = new MemoryTransport(gpSim.card);
await plainTransport.transmit(apdu('00A4040007A0000005590010'));
const random16 = apdu('8084000010');
const level01 = await openScp03(new MemoryTransport(gpSim.card), GP_TEST_KEYS, {
  select: IOTSAFE_AID,
  securityLevel: 0x01,
});
const plainScp = await measure('GET RANDOM(16), plain', () => plainTransport.transmit(random16));
const mac = await measure('GET RANDOM(16), level 01 (C-MAC)', () => level01.transmit(random16));
const level33 = await openScp03(new MemoryTransport(gpSim.card), GP_TEST_KEYS, {
  select: IOTSAFE_AID,
  securityLevel: 0x33,
});
const full = await measure('GET RANDOM(16), level 33', () => level33.transmit(random16));
const opens = await measure('secure channel open (SELECT, IU, EA)', () =>
  GlobalPlatform.open(new MemoryTransport(gpSim.card), GP_TEST_KEYS),
);
printTable('SCP03 (host and card in process; time per APDU, ratio to the plain APDU)', [
  { name: plainScp.name, value: fmt(plainScp.opsPerSecond), unit: 'APDU/s', ratio: '1.00x' },
  {
    name: mac.name,
    value: fmt(mac.opsPerSecond),
    unit: 'APDU/s',
    ratio: ratio(mac.microseconds, plainScp.microseconds),
  },
  {
    name: 'GET RANDOM(16), level 33 (C-DEC C-MAC R-MAC R-ENC)',
    value: fmt(full.opsPerSecond),
    unit: 'APDU/s',
    ratio: ratio(full.microseconds, plainScp.microseconds),
  },
  { name: opens.name, value: fmt(opens.opsPerSecond), unit: 'opens/s' },
]);

await tlsBenchmarks();
await tlsBulkBenchmarks();
await tlsCardProfileBenchmarks();
await tlsLatencyBenchmarks();
await otaBenchmarks();
await pkiBenchmarks();
await transportBenchmarks();
await coapBenchmarks();
await dtlsBenchmarks();
await scp81Benchmarks();
await rotationBenchmarks();
await fleetBenchmarks();
