// Seeded fuzz of what the EST server and the CA read from outside: CSR bodies (valid requests with
// flipped, cut and inserted bytes), base64 text, and raw bytes. The CA throws CsrError only; the server
// answers 4xx (or 200 for a mutation that is still a valid request) and never fails or stops.
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, describe, test } from 'node:test';
import { SeededRandom } from '../../../test/helpers/random.js';
import { CsrError, pem, verifyCsr } from '../src/index.js';
import { simCsr, softwareCsr } from './csr-helpers.js';
import { estFixture } from './est-fixture.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x7030);

function mutate(random: SeededRandom, base: Uint8Array): Uint8Array {
  const bytes = Uint8Array.from(base);
  switch (random.int(4)) {
    case 0: // flip bits
      for (let n = 1 + random.int(4); n > 0; n--) bytes[random.int(bytes.length)]! ^= 1 << random.int(8);
      return bytes;
    case 1: // cut
      return bytes.subarray(0, random.int(bytes.length));
    case 2: // insert
      {
        const at = random.int(bytes.length);
        return Uint8Array.from([
          ...bytes.subarray(0, at),
          ...random.bytes(1 + random.int(8)),
          ...bytes.subarray(at),
        ]);
      }
    default: // a length byte changed
      bytes[1 + random.int(Math.min(8, bytes.length - 1))] = random.int(256);
      return bytes;
  }
}

describe('fuzz: CSRs and EST bodies', () => {
  let fixture: Awaited<ReturnType<typeof estFixture>>;
  let device: Awaited<ReturnType<typeof fixture.client>>;
  let seeds: Uint8Array[];
  before(async () => {
    fixture = await estFixture();
    device = await fixture.client('fuzz-device');
    seeds = [(await simCsr()).csr, (await softwareCsr('CN=fuzz-device')).csr];
  });
  after(() => fixture.server.close());

  test(`verifyCsr: 2000 mutated requests, CsrError or a verified request (seed ${SEED})`, () => {
    const random = new SeededRandom(SEED);
    let refused = 0;
    for (let i = 0; i < 2000; i++) {
      const input = i % 10 === 9 ? random.bytes(random.int(300)) : mutate(random, seeds[i % 2]!);
      try {
        verifyCsr(input);
      } catch (error) {
        assert.ok(
          error instanceof CsrError,
          `case ${i}: ${(error as Error).name}: ${(error as Error).message}`,
        );
        refused++;
      }
    }
    assert.ok(refused > 1800, `${refused} refused`);
  });

  test(`the EST server: 300 mutated bodies answered 200 or 4xx, never 5xx (seed ${SEED})`, async () => {
    const random = new SeededRandom(SEED + 1);
    const statuses = new Map<number, number>();
    const url = new URL(`${fixture.server.url}.well-known/est/simpleenroll`);
    for (let i = 0; i < 300; i++) {
      let body: string;
      const kind = i % 3;
      if (kind === 0) body = Buffer.from(mutate(random, seeds[i % 2]!)).toString('base64');
      else if (kind === 1) {
        const text = [...Buffer.from(seeds[i % 2]!).toString('base64')];
        for (let n = 1 + random.int(3); n > 0; n--)
          text[random.int(text.length)] = String.fromCharCode(32 + random.int(95));
        body = text.join('');
      } else body = Buffer.from(random.bytes(random.int(400))).toString('latin1');
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          url,
          {
            method: 'POST',
            ca: fixture.ca.certificatePem,
            key: device.keyPem,
            cert: pem(device.certificate, 'CERTIFICATE'),
            headers: { 'Content-Type': 'application/pkcs10' },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      assert.ok(status === 200 || (status >= 400 && status < 500), `case ${i}: ${status}`);
    }
    assert.ok((statuses.get(400) ?? 0) > 200, JSON.stringify([...statuses]));
    // still serving
    assert.equal(fixture.server.enrolled, statuses.get(200) ?? 0);
  });
});
