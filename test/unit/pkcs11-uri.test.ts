import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePkcs11Uri, Pkcs11UriError, redactPin } from '../../src/keys/pkcs11-uri.ts';

describe('PKCS#11 URI (RFC 7512)', () => {
  it("reads ocicrypt's documented example, percent-decoding every value", () => {
    const uri = parsePkcs11Uri(
      'pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=f21985c5bec65cff;token=ocicrypt-test;' +
        'id=%2B%74%4C%87%C6%6D%9C%32%C1%E1%82%D5%A3%D0%AC%6C%50%D0%AD%89;object=mykey;type=public?pin-value=1234&module-name=softhsm2',
    );
    assert.deepEqual(uri.token, { label: 'ocicrypt-test', manufacturer: 'SoftHSM project', model: 'SoftHSM v2', serial: 'f21985c5bec65cff', slotId: null });
    assert.equal(uri.objectLabel, 'mykey');
    assert.equal(uri.objectId?.toString('hex'), '2b744c87c66d9c32c1e182d5a3d0ac6c50d0ad89');
    assert.deepEqual(uri.pin, { kind: 'value', pin: '1234' });
    assert.equal(uri.moduleName, 'softhsm2');
    assert.equal(uri.modulePath, null);
  });

  it('keeps the id binary and decodes labels as UTF-8', () => {
    const uri = parsePkcs11Uri('pkcs11:id=%00%ff%80;object=caf%C3%A9%3Bkey;token=a%26b?module-path=/usr/lib/x.so&pin-value=p%3Fin');
    assert.deepEqual([...uri.objectId!], [0x00, 0xff, 0x80]);
    assert.equal(uri.objectLabel, 'café;key');
    assert.equal(uri.token.label, 'a&b');
    assert.deepEqual(uri.pin, { kind: 'value', pin: 'p?in' });
    assert.equal(uri.modulePath, '/usr/lib/x.so');
  });

  it('reads slot-id as a number and accepts a URI without a query', () => {
    const uri = parsePkcs11Uri('pkcs11:slot-id=4294967295;object=k');
    assert.equal(uri.token.slotId, 4294967295);
    assert.equal(uri.pin, null);
    assert.equal(uri.moduleName, null);
  });

  for (const [source, path] of [
    ['file:/run/pin', '/run/pin'],
    ['file:///run/pin', '/run/pin'],
    ['/run/pin', '/run/pin'],
    ['FILE:/run/pin', '/run/pin'],
  ] as const) {
    it(`pin-source ${source} names the file ${path}`, () => {
      assert.deepEqual(parsePkcs11Uri(`pkcs11:token=t;object=k?pin-source=${source}`).pin, { kind: 'file', path });
    });
  }

  for (const [what, text, message] of [
    ['another scheme', 'http:token=t', /not a pkcs11: URI/],
    ['a path attribute without "="', 'pkcs11:token', /malformed path attribute/],
    ['an empty attribute', 'pkcs11:token=t;;object=k', /malformed path attribute/],
    ['a query attribute without "="', 'pkcs11:token=t?pin-value', /malformed query attribute/],
    ['a duplicate attribute', 'pkcs11:token=a;token=b', /duplicate path attribute token/],
    ['bad percent-encoding', 'pkcs11:object=%zz', /malformed percent-encoding in attribute object/],
    ['a truncated escape', 'pkcs11:object=a%4', /malformed percent-encoding/],
    ['a negative slot-id', 'pkcs11:slot-id=-1', /slot-id must be a number/],
    ['a slot-id over 32 bits', 'pkcs11:slot-id=4294967296', /slot-id must be a number/],
    ['both PIN attributes', 'pkcs11:token=t?pin-value=1&pin-source=/p', /both pin-value and pin-source/],
    ['a relative module-path', 'pkcs11:token=t?module-path=lib/x.so', /module-path must be an absolute path/],
    ['a relative pin-source', 'pkcs11:token=t?pin-source=pin.txt', /pin-source must name an absolute path/],
    ['a non-file pin-source', 'pkcs11:token=t?pin-source=https://example.invalid/pin', /pin-source must be a file/],
  ] as const) {
    it(`refuses ${what}`, () => {
      assert.throws(() => parsePkcs11Uri(text), (error: unknown) => error instanceof Pkcs11UriError && message.test(error.message));
    });
  }

  it('never puts a PIN into an error message', () => {
    for (const text of ['pkcs11:token=t?pin-value=s3cret-%zz', 'pkcs11:token=t?pin-value=s3cret-1&pin-value=s3cret-2', 'pkcs11:token=t?pin-value=s3cret&pin-source=/x']) {
      assert.throws(() => parsePkcs11Uri(text), (error: Error) => !error.message.includes('s3cret'));
    }
  });

  it('a PIN hidden in another attribute by a wrong separator is refused without echoing it', () => {
    for (const text of ['pkcs11:token=t?module-name=softhsm2;pin-value=s3cret', 'pkcs11:token=t;object=k&pin-value=s3cret?module-name=m']) {
      assert.throws(() => parsePkcs11Uri(text), (error: unknown) => {
        assert.ok(error instanceof Pkcs11UriError);
        assert.match(error.message, /contains a pin attribute/);
        assert.ok(!error.message.includes('s3cret'));
        return true;
      });
    }
    assert.equal(redactPin('pkcs11:token=t?module-name=softhsm2;pin-value=s3cret&x=1'), 'pkcs11:token=t?module-name=softhsm2;pin-value=(redacted)&x=1');
  });

  it('a PIN hidden in pin-source or percent-encoded is refused too, and module values hold no attribute', () => {
    for (const text of [
      'pkcs11:token=t?pin-source=/p;pin-value=s3cret',
      'pkcs11:token=t?module-name=m%3Bpin-value%3Ds3cret',
      'pkcs11:token=t?module-path=/usr/lib/x.so;PIN-VALUE=s3cret',
    ]) {
      assert.throws(() => parsePkcs11Uri(text), (error: unknown) => {
        assert.ok(error instanceof Pkcs11UriError);
        assert.match(error.message, /contains a pin attribute/);
        assert.ok(!error.message.includes('s3cret'), error.message);
        return true;
      });
    }
    for (const text of ['pkcs11:token=t?module-name=softhsm2;slot=1', 'pkcs11:token=t?module-path=/usr/lib/a=b.so', 'pkcs11:token=t?module-name=x%3Dy']) {
      assert.throws(() => parsePkcs11Uri(text), /attribute module-(name|path) contains ";" or "=": separate query attributes with "&"/);
    }
    assert.equal(parsePkcs11Uri('pkcs11:token=t?module-name=m&pin-value=a;b=c?d').pin?.kind, 'value');
  });

  it('an attribute name that is not plain is quoted in messages', () => {
    assert.throws(() => parsePkcs11Uri('pkcs11:a\u001b[2J=1;a\u001b[2J=2'), (error: Error) => {
      assert.equal(error.message, 'duplicate path attribute "a\\u001b[2J"');
      return true;
    });
  });

  it('redacts a PIN whole, whatever it holds and however the attribute is spelt', () => {
    assert.equal(redactPin('pkcs11:token=t?module-name=m&pin-value=s3;cr?et&x=1'), 'pkcs11:token=t?module-name=m&pin-value=(redacted)&x=1');
    assert.equal(redactPin('pkcs11:token=t?PIN-VALUE=s3cret'), 'pkcs11:token=t?PIN-VALUE=(redacted)');
    assert.equal(redactPin('pkcs11:token=t?pin%2Dvalue=s3cret&pin-value%3ds3cret'), 'pkcs11:token=t?pin%2Dvalue=(redacted)&pin-value%3d(redacted)');
    assert.equal(redactPin('pkcs11:token=t;pin-value=s3cret;object=k?module-name=m'), 'pkcs11:token=t;pin-value=(redacted)');
  });

  it('redacts the pin-value when showing a URI', () => {
    assert.equal(redactPin('pkcs11:token=t;object=k?module-name=m&pin-value=1234'), 'pkcs11:token=t;object=k?module-name=m&pin-value=(redacted)');
    assert.equal(redactPin('pkcs11:token=t;object=k'), 'pkcs11:token=t;object=k');
  });
});
