// SIM directories for the CLI tests that connect with the SIM's key: a Type I SIM whose key pair is
// generated in container 01 and whose certificate, from the test CA, is in file 02 (the CA in 03).
import { byId, encodeP256PublicKeyInfo, IoTSafe, MemoryTransport } from '@iotsafe/device';
import { hexToBytes } from '@iotsafe/protocol';
import { TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';
import { issue, type testPki } from '../../../test/helpers/pki.js';

export async function typeOneSimDir(
  simDir: string,
  storageKeyHex: string,
  ca: ReturnType<typeof testPki>['ca'],
  commonName: string,
): Promise<string> {
  const sim = VirtualSim.create(simDir, TYPE1_PROFILE, { storageKey: hexToBytes(storageKeyHex) });
  const client = await IoTSafe.connect(new MemoryTransport(sim.card));
  const { point } = await client.generateKeyPair(byId('01'));
  sim.writeFile(
    byId('02'),
    issue({ commonName, issuer: ca, publicKeySpki: encodeP256PublicKeyInfo(point) }).certificateDer,
  );
  sim.writeFile(byId('03'), ca.certificateDer);
  sim.close(); // the CLI processes open the directory: one owner at a time
  return simDir;
}
