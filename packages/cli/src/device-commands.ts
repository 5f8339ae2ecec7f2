// The device commands: what a device asks of the IoT SAFE applet (GSMA IoT.05 §3), through any
// transport — info, objects, read-file, keygen, pubkey, sign, verify, random, csr.
import { readFileSync, writeFileSync } from 'node:fs';
import { createCsr, encodeP256PublicKeyInfo, toPem } from '@iotsafe/device';
import {
  bytesToHex,
  describeRef,
  ecdsaRawToDer,
  type HashAlgorithm,
  hexToBytes,
  type ObjectRef,
  type SignMode,
} from '@iotsafe/protocol';
import { type Command, Option } from 'commander';
import { applicationJson, describeApplication, objectJson, objectRow } from './describe.js';
import { emit, table } from './output.js';
import { type GlobalOptions, objectRef, UsageError, withIoTSafe } from './session.js';

const refOptions = (c: Command) =>
  c.option('--id <hex>', 'object ID').option('--label <text>', 'object label');
const hashOption = () =>
  new Option('--hash <alg>', 'hash algorithm').choices(['sha256', 'sha384', 'sha512']).default('sha256');
const modeOption = () =>
  new Option('--mode <mode>', 'signature mode')
    .choices(['padAndSign', 'fullText', 'lastBlock'])
    .default('padAndSign');

/** What sign and verify take: the key (--id/--label), the input, the hash and the signature mode. */
interface SignatureOptions {
  id?: string;
  label?: string;
  in?: string;
  text?: string;
  digest?: string;
  hash: HashAlgorithm;
  mode: SignMode;
}

function readInput(options: {
  in?: string;
  digest?: string;
  text?: string;
}): { message: Uint8Array } | { digest: Uint8Array } {
  const given = [options.in, options.digest, options.text].filter((v) => v !== undefined).length;
  if (given !== 1) throw new UsageError('give exactly one of --in FILE, --text TEXT or --digest HEX');
  if (options.digest) return { digest: hexHex(options.digest, '--digest') };
  if (options.text !== undefined) return { message: new TextEncoder().encode(options.text) };
  return { message: new Uint8Array(readFileSync(options.in!)) };
}

function hexHex(text: string, what: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})+$/.test(clean)) throw new UsageError(`${what} takes hex`);
  return hexToBytes(clean);
}

const refJson = (ref: ObjectRef) => ('id' in ref ? { id: bytesToHex(ref.id) } : { label: ref.label });

export function registerDeviceCommands(program: Command, globals: () => GlobalOptions): void {
  program
    .command('info')
    .description('applet information (GET DATA P1=00)')
    .action(() =>
      withIoTSafe(globals(), async (client) => {
        const info = await client.applicationInfo();
        emit(globals().json, { aid: client.aid, channel: client.channel, ...applicationJson(info) }, () =>
          table([
            ['AID', bytesToHex(client.aid)],
            ['channel', String(client.channel)],
            ...describeApplication(info),
          ]),
        );
      }),
    );

  program
    .command('objects')
    .description('list every object (GET DATA P1=01 with paging)')
    .action(() =>
      withIoTSafe(globals(), async (client) => {
        const objects = await client.listObjects();
        emit(globals().json, objects.map(objectJson), () =>
          table([['class', 'ID', 'label', 'state', 'type', 'details'], ...objects.map(objectRow)]),
        );
      }),
    );

  refOptions(
    program
      .command('read-file')
      .description('read a file container')
      .option('--out <file>', 'write the content to a file')
      .option('--pem', 'print a certificate as PEM'),
  ).action((options: { id?: string; label?: string; out?: string; pem?: boolean }) =>
    withIoTSafe(globals(), async (client) => {
      const content = await client.readFile(objectRef(options, 'file'));
      if (options.out) writeFileSync(options.out, options.pem ? toPem(content, 'CERTIFICATE') : content);
      emit(globals().json, { length: content.length, content }, () =>
        options.out
          ? `${content.length} bytes written to ${options.out}`
          : options.pem
            ? toPem(content, 'CERTIFICATE').trimEnd()
            : bytesToHex(content),
      );
    }),
  );

  refOptions(
    program
      .command('keygen')
      .description('generate a key pair inside the SIM')
      .option('--force', 'replace the key the container holds (its certificate no longer matches)'),
  ).action((options: { id?: string; label?: string; force?: boolean }) =>
    withIoTSafe(globals(), async (client) => {
      const ref = objectRef(options, 'private key');
      if (!options.force) {
        const current = await client.objectInfo('privateKey', ref);
        if (current.state === 1)
          throw new UsageError(
            `private key container ${describeRef(ref)} already holds a key (a certificate on the SIM may be issued for it): pass --force to replace it; the old key is lost`,
          );
      }
      const pair = await client.generateKeyPair(ref);
      emit(
        globals().json,
        { privateKey: refJson(pair.privateKey), publicKey: refJson(pair.publicKey), point: pair.point },
        () =>
          table([
            ['private key', describeRef(pair.privateKey)],
            ['public key', describeRef(pair.publicKey)],
            ['point', bytesToHex(pair.point)],
          ]),
      );
    }),
  );

  refOptions(
    program
      .command('pubkey')
      .description('read a public key')
      .option('--pem', 'print as a PEM SubjectPublicKeyInfo'),
  ).action((options: { id?: string; label?: string; pem?: boolean }) =>
    withIoTSafe(globals(), async (client) => {
      const point = await client.readPublicKey(objectRef(options, 'public key'));
      const pem = toPem(encodeP256PublicKeyInfo(point), 'PUBLIC KEY').trimEnd();
      emit(globals().json, { point, pem }, () => (options.pem ? pem : bytesToHex(point)));
    }),
  );

  refOptions(
    program
      .command('sign')
      .description('sign inside the SIM; prints r||s in hex (or DER with --der)')
      .option('--in <file>', 'message file')
      .option('--text <text>', 'message text')
      .option('--digest <hex>', 'precomputed digest (pad-and-sign)')
      .option('--der', 'print a DER ECDSA-Sig-Value')
      .option('--out <file>', 'also write the signature (hex) to a file')
      .addOption(hashOption())
      .addOption(modeOption()),
  ).action((options: SignatureOptions & { der?: boolean; out?: string }) =>
    withIoTSafe(globals(), async (client) => {
      const signature = await client.sign(objectRef(options, 'private key'), readInput(options), {
        hash: options.hash,
        mode: options.mode,
      });
      const out = options.der ? ecdsaRawToDer(signature) : signature;
      if (options.out) writeFileSync(options.out, `${bytesToHex(out)}\n`);
      emit(globals().json, { signature: out, format: options.der ? 'der' : 'raw' }, () => bytesToHex(out));
    }),
  );

  refOptions(
    program
      .command('verify')
      .description('verify a signature inside the SIM (exit 0 valid, 1 invalid)')
      .option('--signature <hex>', 'raw r||s')
      .option('--signature-file <file>', 'raw r||s in hex, as `sign --out` writes it')
      .option('--in <file>', 'message file')
      .option('--text <text>', 'message text')
      .option('--digest <hex>', 'precomputed digest')
      .addOption(hashOption())
      .addOption(modeOption()),
  ).action((options: SignatureOptions & { signature?: string; signatureFile?: string }) =>
    withIoTSafe(globals(), async (client) => {
      if ((options.signature === undefined) === (options.signatureFile === undefined))
        throw new UsageError('give the signature by --signature HEX or --signature-file FILE');
      const signature = hexHex(
        options.signature ?? readFileSync(options.signatureFile!, 'utf8'),
        'the signature',
      );
      const valid = await client.verify(objectRef(options, 'public key'), readInput(options), signature, {
        hash: options.hash,
        mode: options.mode,
      });
      emit(globals().json, { valid }, () => (valid ? 'signature valid' : 'signature does NOT match (6D01)'));
      if (!valid) process.exitCode = 1;
    }),
  );

  program
    .command('random <bytes>')
    .description('random bytes from the SIM (GET RANDOM)')
    .action((bytes: string) =>
      withIoTSafe(globals(), async (client) => {
        const n = Number(bytes);
        if (!Number.isInteger(n) || n < 1 || n > 256)
          throw new UsageError('random takes a byte count from 1 to 256');
        const random = await client.random(n);
        emit(globals().json, { random }, () => bytesToHex(random));
      }),
    );

  refOptions(
    program
      .command('csr')
      .description('make a PKCS#10 request signed inside the SIM')
      .requiredOption('--cn <name>', 'subject common name')
      .option('--org <name>', 'subject organization')
      .option('--generate', 'generate a fresh key pair in the container first (replaces its key)')
      .option('--out <file>', 'write PEM to a file'),
  ).action(
    (options: { id?: string; label?: string; cn: string; org?: string; generate?: boolean; out?: string }) =>
      withIoTSafe(globals(), async (client) => {
        const key = objectRef(options, 'private key');
        const publicKey = options.generate
          ? (await client.generateKeyPair(key)).point
          : await client.readPublicKey('id' in key ? { id: key.id } : { label: key.label });
        const csr = await createCsr(client, {
          key,
          publicKey,
          subject: { commonName: options.cn, ...(options.org ? { organization: options.org } : {}) },
        });
        const pem = toPem(csr, 'CERTIFICATE REQUEST');
        if (options.out) writeFileSync(options.out, pem);
        emit(globals().json, { pem, ...(options.out ? { file: options.out } : {}) }, () =>
          options.out ? `request written to ${options.out}` : pem.trimEnd(),
        );
      }),
  );
}
