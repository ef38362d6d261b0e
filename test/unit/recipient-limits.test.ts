/** Wrapped-key items naming more recipients than any encryptor writes are refused before any key work. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assembleDecryptionKeys } from '../../src/keys/decryption-keys.ts';
import { jweScheme } from '../../src/keywrap/jwe.ts';
import { pkcs11SchemeWith } from '../../src/keywrap/pkcs11.ts';
import { MAX_RECIPIENTS_PER_ITEM } from '../../src/limits.ts';
import { UnwrapFailure } from '../../src/keywrap/scheme.ts';
import { systemPkcs11Host } from '../../src/platform/pkcs11-host.ts';
import { fixtureKey, loadLayerCase } from '../support/fixtures.ts';

const pkcs11Scheme = pkcs11SchemeWith(systemPkcs11Host);

const keys = assembleDecryptionKeys([{ path: 'k', bytes: fixtureKey('jwe', 'rsa2048.pkcs8.pem') }], new Map());

describe('recipients per item', () => {
  const general = JSON.parse(Buffer.from(loadLayerCase('jwe', 'two-gzip').descriptor.annotations['org.opencontainers.image.enc.keys.jwe']!, 'base64').toString());
  const withRecipients = (count: number) =>
    Buffer.from(JSON.stringify({ ...general, recipients: Array.from({ length: count }, (_, i) => general.recipients[i % 2]) }));

  it(`JWE: up to ${MAX_RECIPIENTS_PER_ITEM} recipients are tried`, async () => {
    const options = JSON.parse((await jweScheme.unwrap([withRecipients(MAX_RECIPIENTS_PER_ITEM)], keys)).toString());
    assert.equal(typeof options.symkey, 'string');
  });

  it(`JWE: ${MAX_RECIPIENTS_PER_ITEM + 1} recipients make the item malformed, no key tried`, async () => {
    await assert.rejects(jweScheme.unwrap([withRecipients(MAX_RECIPIENTS_PER_ITEM + 1)], keys), (error: unknown) => {
      assert.ok(error instanceof UnwrapFailure);
      assert.match(error.message, /no item is a JWE \(1 malformed\)/);
      assert.equal(error.kind, 'malformed-items');
      return true;
    });
  });

  it(`PKCS#11: ${MAX_RECIPIENTS_PER_ITEM + 1} recipients are refused with the limit named`, async () => {
    const recipient = { version: 0, blob: Buffer.alloc(256, 1).toString('base64'), hash: 'sha1' };
    const blob = Buffer.from(JSON.stringify({ version: 0, recipients: Array(MAX_RECIPIENTS_PER_ITEM + 1).fill(recipient) }));
    await assert.rejects(pkcs11Scheme.unwrap([blob], keys), /has 65 recipients \(limit 64\)/);
  });
});
