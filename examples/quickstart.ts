// The library in a few lines: a virtual SIM in memory, the IoT SAFE client over it, a key generated
// inside the SIM, a signature checked with node:crypto. Run: npm run example
import { createPublicKey, verify } from 'node:crypto';
import { byId, encodeP256PublicKeyInfo, IoTSafe, MemoryTransport } from '@iotsafe/device';
import { bytesToHex, ecdsaRawToDer, utf8 } from '@iotsafe/protocol';
import { TYPE1_PROFILE, VirtualSim } from '@iotsafe/sim';

const sim = VirtualSim.inMemory(TYPE1_PROFILE); // or VirtualSim.open(dir, { storageKey })
const iotsafe = await IoTSafe.connect(new MemoryTransport(sim.card)); // any Transport: PC/SC, modem…

const { privateKey, point } = await iotsafe.generateKeyPair(byId('01'));
const message = utf8('telemetry #1');
const signature = await iotsafe.sign(privateKey, { message }); // raw r‖s, computed in the SIM

const publicKey = createPublicKey({
  key: Buffer.from(encodeP256PublicKeyInfo(point)),
  format: 'der',
  type: 'spki',
});
console.log('public key', bytesToHex(point));
console.log('signature ', bytesToHex(signature));
console.log('verified  ', verify('sha256', message, publicKey, Buffer.from(ecdsaRawToDer(signature))));
await iotsafe.close();
