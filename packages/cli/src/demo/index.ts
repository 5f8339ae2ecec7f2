// The main job, end to end on embedded defaults (nothing to start by hand, every key generated for the
// run): a blank SIM personalised over SCP03, TLS 1.3 with the SIM's key, a Type II SIM's PSK, CoAP over
// DTLS (PSK and ECDHE-ECDSA, against libcoap's coap-server when installed), an SCP80 update over a
// local SMSC, the SIM managed over SCP81, a campaign over a small virtual fleet, the device reconnecting,
// and the credentials rotated over the air. Each chapter is its own module.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { IoTSafe, MemoryTransport } from '@iotsafe/device';
import { bytesToHex } from '@iotsafe/protocol';
import { newStorageKey } from '@iotsafe/sim';
import { writeSecretFile } from '../key-files.js';
import { coapOverDtls } from './coaps.js';
import { personalise } from './factory.js';
import { fleetCampaign } from './fleet.js';
import { overTheAir } from './ota.js';
import { pskTls } from './psk.js';
import { Report } from './report.js';
import { rotateCredentials } from './rotation.js';
import { overHttps } from './scp81.js';
import { describeRound, mutualTls, startCloud, tlsExchange } from './tls.js';

const aes = () => new Uint8Array(randomBytes(16));

export async function runDemo(options: { dir?: string; json?: boolean }): Promise<void> {
  const started = performance.now();
  const report = new Report(options.json === true);
  const base = options.dir ? resolve(options.dir) : mkdtempSync(join(tmpdir(), 'iotsafe-demo-'));
  mkdirSync(base, { recursive: true });
  const storageKey = newStorageKey();
  const keyFile = join(base, 'storage.key');
  writeSecretFile(keyFile, `${bytesToHex(storageKey)}\n`, true);
  // The issuer's ISD keys and the SCP80 key set: test keys generated for this run only.
  const isdKeys = { enc: aes(), mac: aes(), dek: aes() };
  writeSecretFile(
    join(base, 'isd.keys'),
    `# test keys of this demo run\nenc=${bytesToHex(isdKeys.enc)}\nmac=${bytesToHex(isdKeys.mac)}\ndek=${bytesToHex(isdKeys.dek)}\n`,
    true,
  );
  const scp80 = { kic: aes(), kid: aes(), kik: aes() };

  const factory = await personalise(report, base, storageKey, isdKeys, scp80);
  const transport = new MemoryTransport(factory.sim.card);
  const client = await IoTSafe.connect(transport);
  // A second client on its own logical channel trusts the final UPDATE to end each session (Thales style).
  const lastUpdate = await IoTSafe.connect(transport, { sessionEnd: 'lastUpdate' });
  const cloud = await startCloud(factory.ca);
  try {
    const session = await mutualTls(report, { close: client, lastUpdate }, cloud, factory.ca);
    const typeTwo = await pskTls(report, base, storageKey, isdKeys);
    await coapOverDtls(report, base, storageKey, { client, ca: factory.ca });
    await overTheAir(report, base, storageKey, factory.sim, scp80);
    await overHttps(report, base, storageKey, factory.sim, factory.scp81);
    await fleetCampaign(report, base, storageKey);

    report.chapter('The device reconnects: TLS 1.3 resumption (no signature), then a full handshake');
    const resumed = await tlsExchange(client, cloud, factory.ca, 'sign', session);
    report.line(describeRound(resumed));
    const full = await tlsExchange(client, cloud, factory.ca, 'sign');
    report.line(describeRound(full));
    report.set('reconnect', { resumed, full });
    if (cloud.seen.some((cn) => cn !== 'demo-device-0001') || cloud.seen.length !== 6)
      throw new Error('the server did not see the SIM certificate each time');
    await rotateCredentials(report, base, storageKey, factory, typeTwo, isdKeys);
  } finally {
    await lastUpdate.close();
    await client.close();
    cloud.close();
  }
  const ms = Math.round(performance.now() - started);
  const apdus = factory.apdus + client.apduCount + lastUpdate.apduCount;
  report.set('ok', true);
  report.set('milliseconds', ms);
  report.set('apdus', apdus);
  report.set('directory', base);
  report.finish(
    `Done in ${ms} ms, ${apdus} APDUs with the Type I SIM. Files are in ${base}\nTry: IOTSAFE_STORAGE_KEY_FILE=${keyFile} npm run iotsafe -- --sim ${factory.sim.directory} objects`,
  );
}
