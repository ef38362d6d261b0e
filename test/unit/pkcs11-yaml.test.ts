import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePkcs11KeyFile, Pkcs11KeyFileError } from '../../src/keys/pkcs11-key-file.ts';
import { parseYaml, YamlError, type YamlValue } from '../../src/encoding/yaml.ts';

/** Maps as plain objects, for deepEqual. */
function plain(value: YamlValue): unknown {
  if (value instanceof Map) return Object.fromEntries([...value].map(([key, entry]) => [key, plain(entry)]));
  if (Array.isArray(value)) return value.map(plain);
  return value;
}

const read = (text: string) => plain(parseYaml(text));

describe('restricted YAML reader', () => {
  it('reads the key file ocicrypt documents', () => {
    const text = [
      'pkcs11:',
      '  uri: pkcs11:token=t;object=k?module-name=softhsm2&pin-value=1234',
      'module:',
      '  env:',
      '    SOFTHSM2_CONF: /home/u/softhsm2.conf',
    ].join('\n');
    assert.deepEqual(read(text), {
      pkcs11: { uri: 'pkcs11:token=t;object=k?module-name=softhsm2&pin-value=1234' },
      module: { env: { SOFTHSM2_CONF: '/home/u/softhsm2.conf' } },
    });
  });

  it('reads sequences indented (go-yaml v3 output) and at their key\'s indentation', () => {
    const goYaml = 'module-directories:\n    - /usr/lib64/pkcs11/\n    - /usr/lib/softhsm/\nallowed-module-paths:\n    - /usr/lib/softhsm/libsofthsm2.so\n';
    const handWritten = 'pkcs11:\n  module-directories:\n  - /usr/lib64/pkcs11/\n  - /usr/lib/softhsm/\n  allowed-module-paths: []\n';
    assert.deepEqual(read(goYaml), {
      'module-directories': ['/usr/lib64/pkcs11/', '/usr/lib/softhsm/'],
      'allowed-module-paths': ['/usr/lib/softhsm/libsofthsm2.so'],
    });
    assert.deepEqual(read(handWritten), { pkcs11: { 'module-directories': ['/usr/lib64/pkcs11/', '/usr/lib/softhsm/'], 'allowed-module-paths': [] } });
  });

  it('reads comments, quotes, flow collections, nulls, CRLF, a BOM and a leading ---', () => {
    const text = [
      '\uFEFF--- # document',
      '# a comment',
      'a: "x # not a comment \\u00e9\\t"   # a comment',
      "b: 'it''s'",
      'c: plain value # comment',
      'd: [one, "two, three", {k: v}, []]',
      'e: {uri: pkcs11:token=t;object=k, n: ~}',
      'f:',
      'g: null',
      '"quoted key": 1',
      'h:',
      '  - - nested',
      '  - k: v',
      '    l: w',
    ].join('\r\n');
    assert.deepEqual(read(text), {
      a: 'x # not a comment é\t',
      b: "it's",
      c: 'plain value',
      d: ['one', 'two, three', { k: 'v' }, []],
      e: { uri: 'pkcs11:token=t;object=k', n: null },
      f: null,
      g: null,
      'quoted key': '1',
      h: [['nested'], { k: 'v', l: 'w' }],
    });
  });

  it('reads an empty document as null', () => {
    assert.equal(parseYaml('# nothing\n\n'), null);
  });

  for (const [what, text, message] of [
    ['tab indentation', 'a:\n\tb: c', /tabs cannot indent/],
    ['an anchor', 'a: &x 1', /anchors, aliases, tags/],
    ['an alias', 'a: *x', /anchors, aliases, tags/],
    ['a tag', 'a: !!str 1', /anchors, aliases, tags/],
    ['a block scalar', 'a: |\n  text', /block scalars/],
    ['a duplicate key', 'a: 1\na: 2', /duplicate key "a"/],
    ['a multi-line plain value', 'a: one\n  two', /multi-line values are not supported/],
    ['an unterminated quote', 'a: "open', /unterminated quoted value/],
    ['a bad escape', 'a: "\\q"', /unknown escape/],
    ['an unterminated flow sequence', 'a: [1, 2', /expected "," or "\]"/],
    ['text after a quoted value', 'a: "x" y', /unexpected text after a value/],
    ['a second document', 'a: 1\n---\nb: 2', /only one YAML document/],
    ['a directive', '%YAML 1.2\na: 1', /directives are not supported/],
    ['bad indentation', 'a:\n    b: 1\n  c: 2', /line 3: unexpected indentation/],
    ['a mapping line among sequence items', 'a:\n  - 1\n  b: 2', /line 3/],
  ] as const) {
    it(`refuses ${what}`, () => {
      assert.throws(() => parseYaml(text), (error: unknown) => error instanceof YamlError && message.test(error.message));
    });
  }

  it('refuses nesting deeper than it supports instead of overflowing the stack', () => {
    assert.throws(() => parseYaml(`a: ${'['.repeat(100)}${']'.repeat(100)}`), /nested too deeply/);
  });
});

describe('PKCS#11 key file', () => {
  it('gives the parsed URI, its text and the module environment', () => {
    const keyFile = parsePkcs11KeyFile(
      Buffer.from('pkcs11:\n  uri: "pkcs11:token=t;object=k?module-name=softhsm2&pin-value=1234"\nmodule:\n  env:\n    SOFTHSM2_CONF: /etc/s.conf\n    EMPTY:\n'),
    );
    assert.equal(keyFile.uri.token.label, 't');
    assert.equal(keyFile.uriText, 'pkcs11:token=t;object=k?module-name=softhsm2&pin-value=1234');
    assert.deepEqual([...keyFile.moduleEnv], [
      ['SOFTHSM2_CONF', '/etc/s.conf'],
      ['EMPTY', ''],
    ]);
  });

  it('ignores unknown keys and accepts no module section', () => {
    const keyFile = parsePkcs11KeyFile(Buffer.from('comment: made by hand\npkcs11:\n  uri: pkcs11:token=t;object=k\n  extra: 1\n'));
    assert.equal(keyFile.moduleEnv.size, 0);
  });

  for (const [what, text, message] of [
    ['no pkcs11 section', 'module: {}\n', /no pkcs11\.uri/],
    ['a uri that is a list', 'pkcs11:\n  uri: [a]\n', /no pkcs11\.uri/],
    ['a bad URI', 'pkcs11:\n  uri: pkcs11:token=a;token=b\n', /bad pkcs11\.uri: duplicate path attribute token/],
    ['an env that is a list', 'pkcs11:\n  uri: pkcs11:token=t\nmodule:\n  env: [A]\n', /module\.env must be a mapping/],
    ['an env value that is a mapping', 'pkcs11:\n  uri: pkcs11:token=t\nmodule:\n  env:\n    A: {b: c}\n', /module\.env\.A must be a string/],
    ['an env name with "="', 'pkcs11:\n  uri: pkcs11:token=t\nmodule:\n  env:\n    "A=B": c\n', /invalid variable name/],
    ['YAML it cannot read', 'pkcs11:\n  uri: &a x\n', /not readable YAML/],
  ] as const) {
    it(`refuses ${what}`, () => {
      assert.throws(() => parsePkcs11KeyFile(Buffer.from(text)), (error: unknown) => error instanceof Pkcs11KeyFileError && message.test(error.message));
    });
  }
});
