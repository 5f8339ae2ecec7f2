// Chapter 3: a Type II SIM. The operator makes a PSK, writes it into the SIM's secret container over
// SCP03 with C-DECRYPTION (the DGI carrying it is ciphered), and hands it to the cloud's PSK store; the
// device runs TLS 1.3 with that external PSK (RFC 8446 §2.2) whose Early Secret the SIM computes
// (COMPUTE HKDF) — one APDU, and the PSK never leaves the SIM.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { byLabel, GlobalPlatform, IoTSafe, IoTSafeKeyOps, MemoryTransport } from '@iotsafe/device';
import { bytesToHex, IOTSAFE_AID, type StaticKeys, utf8 } from '@iotsafe/protocol';
import { BLANK_PROFILE, personalizationFromProfile, VirtualSim } from '@iotsafe/sim';
import { connect as connectTls } from '@iotsafe/tls';
import type { Report } from './report.js';

const IDENTITY = 'demo-device-0002';

export async function pskTls(report: Report, base: string, storageKey: Uint8Array, isdKeys: StaticKeys) {
  report.chapter('A Type II SIM: its PSK written over SCP03, then TLS 1.3 with the PSK kept in the SIM');
  const psk = new Uint8Array(randomBytes(32)); // the operator's, for this run only
  const sim = VirtualSim.create(join(base, 'sim-type2'), BLANK_PROFILE, {
    storageKey,
    isdKeys: { keys: isdKeys },
  });
  const transport = new MemoryTransport(sim.card);
  const gp = await GlobalPlatform.open(transport, isdKeys, { securityLevel: 0x33 });
  const operations = personalizationFromProfile(
    { containers: [{ class: 'secret', id: '01', label: 'psk', value: { hex: bytesToHex(psk) } }] },
    'ota', // locked: the rotation chapter rewrites it over the air (perso-format.md)
  );
  await gp.personalize(IOTSAFE_AID, operations);
  await gp.close();
  report.line('SCP03 level 33: the secret container created and filled, the PSK ciphered on the way');

  // the cloud's PSK store knows the identity and the PSK (delivered by the operator)
  const server = tls.createServer(
    {
      minVersion: 'TLSv1.3',
      ciphers: 'TLS_AES_128_GCM_SHA256',
      pskCallback: (_socket: tls.TLSSocket, identity: string) =>
        identity === IDENTITY ? Buffer.from(psk) : null,
    } as tls.TlsOptions,
    (socket) => {
      socket.on('data', (d) => socket.end(`hello ${IDENTITY} (PSK), you sent "${d}"`));
      socket.on('error', () => {});
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = await IoTSafe.connect(transport);
  try {
    const keyOps = await IoTSafeKeyOps.create(client, {
      offload: 'sign',
      psk: { identity: utf8(IDENTITY), secret: byLabel('psk') },
    });
    const before = client.apduCount;
    const socket = connectTls({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, keyOps });
    await once(socket, 'secureConnect');
    const apdus = client.apduCount - before;
    socket.write('telemetry 19.0C');
    const [reply] = (await once(socket, 'data')) as [Buffer];
    socket.destroy();
    const result = {
      identity: IDENTITY,
      protocol: socket.getProtocol() ?? '',
      cipher: socket.getCipher()?.name ?? '',
      apdus,
      handshakeMs: Number(socket.handshakeStats.milliseconds.toFixed(1)),
      reply: String(reply),
    };
    report.line(
      `${result.protocol} ${result.cipher} with PSK identity ${IDENTITY}: ${apdus} APDU, handshake ${result.handshakeMs} ms; server: ${reply}`,
    );
    report.set('psk', result);
    return { ...result, sim, psk }; // the SIM and its PSK for the rotation chapter
  } finally {
    await client.close();
    server.close();
  }
}
