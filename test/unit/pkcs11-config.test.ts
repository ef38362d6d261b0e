import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  chooseModulePolicy,
  configFileLocations,
  defaultModuleDirectories,
  parseModulePolicy,
  Pkcs11ConfigError,
  type ModulePolicy,
} from '../../src/keywrap/pkcs11/config.ts';
import { findModule, isAllowedModule, ModuleLookupError, type ModuleFiles } from '../../src/keywrap/pkcs11/module-lookup.ts';
import { parsePkcs11Uri } from '../../src/keys/pkcs11-uri.ts';
import { readLocalConfig, withEnvironment } from '../../src/platform/pkcs11-host.ts';
import { temporaryDirectory } from '../support/temporary.ts';

const CONFIG = 'pkcs11:\n  module-directories:\n    - /usr/lib/softhsm/\n  allowed-module-paths:\n    - /usr/lib/softhsm/libsofthsm2.so\n';

describe('ocicrypt config lookup', () => {
  it('tries OCICRYPT_CONFIG, $XDG_CONFIG_HOME, ~/.config, then /etc', () => {
    assert.deepEqual(configFileLocations({ OCICRYPT_CONFIG: '/c.conf', XDG_CONFIG_HOME: '/x', HOME: '/h' }), [
      '/c.conf',
      '/x/ocicrypt.conf',
      '/h/.config/ocicrypt.conf',
      '/etc/ocicrypt.conf',
    ]);
    assert.deepEqual(configFileLocations({}), ['/etc/ocicrypt.conf']);
  });

  it('OCICRYPT_CONFIG=internal means the built-in defaults, no file', () => {
    assert.deepEqual(readLocalConfig({ OCICRYPT_CONFIG: 'internal', HOME: '/nonexistent' }), { kind: 'internal' });
  });

  it('the first file that exists wins; a named file that does not exist falls through, as in ocicrypt', () => {
    const home = temporaryDirectory();
    const xdg = temporaryDirectory();
    mkdirSync(join(home, '.config'));
    writeFileSync(join(home, '.config', 'ocicrypt.conf'), 'home');
    assert.deepEqual(readLocalConfig({ OCICRYPT_CONFIG: '/nonexistent/c.conf', XDG_CONFIG_HOME: xdg, HOME: home }), {
      kind: 'file',
      path: join(home, '.config', 'ocicrypt.conf'),
      text: 'home',
    });
    writeFileSync(join(xdg, 'ocicrypt.conf'), 'xdg');
    assert.equal((readLocalConfig({ XDG_CONFIG_HOME: xdg, HOME: home }) as { text: string }).text, 'xdg');
    const named = join(temporaryDirectory(), 'named.conf');
    writeFileSync(named, 'named');
    assert.equal((readLocalConfig({ OCICRYPT_CONFIG: named, XDG_CONFIG_HOME: xdg }) as { text: string }).text, 'named');
  });

  it('a config path that cannot be read is reported, not skipped', () => {
    const dir = temporaryDirectory();
    assert.deepEqual(readLocalConfig({ OCICRYPT_CONFIG: dir }), { kind: 'unreadable', path: dir, reason: 'not a regular file' });
  });

  it("ocicrypt's default module directories, with Debian's multiarch directory", () => {
    assert.deepEqual(defaultModuleDirectories('x64'), [
      '/usr/lib64/pkcs11/',
      '/usr/lib/pkcs11/',
      '/usr/local/lib/pkcs11/',
      '/usr/lib/softhsm/',
      '/usr/lib/x86_64-linux-gnu/',
    ]);
    assert.equal(defaultModuleDirectories('arm64').at(-1), '/usr/lib/aarch64-linux-gnu/');
    assert.equal(defaultModuleDirectories('loong64').length, 4);
  });
});

describe('module policy', () => {
  const payload = Buffer.from('module-directories:\n    - /payload/\nallowed-module-paths:\n    - /payload/\n');

  it('the node\'s config beats the payload\'s; internal allows exactly the default directories', () => {
    const internal = chooseModulePolicy({ kind: 'internal' }, payload, 'x64');
    assert.deepEqual(internal.allowedModulePaths, defaultModuleDirectories('x64'));
    assert.deepEqual(internal.moduleDirectories, defaultModuleDirectories('x64'));
    const file = chooseModulePolicy({ kind: 'file', path: '/etc/ocicrypt.conf', text: CONFIG }, payload, 'x64');
    assert.deepEqual(file, { source: '/etc/ocicrypt.conf', moduleDirectories: ['/usr/lib/softhsm/'], allowedModulePaths: ['/usr/lib/softhsm/libsofthsm2.so'] });
  });

  it("the payload's pkcs11-config applies when the node has none", () => {
    const policy = chooseModulePolicy({ kind: 'none', searched: ['/etc/ocicrypt.conf'] }, payload, 'x64');
    assert.deepEqual(policy, { source: "the payload's pkcs11-config", moduleDirectories: ['/payload/'], allowedModulePaths: ['/payload/'] });
  });

  it('with no config anywhere, no module may be loaded', () => {
    assert.throws(
      () => chooseModulePolicy({ kind: 'none', searched: ['/etc/ocicrypt.conf'] }, null, 'x64'),
      (error: unknown) => error instanceof Pkcs11ConfigError && /no ocicrypt config found \(looked for \/etc\/ocicrypt\.conf\), so no module may be loaded: set OCICRYPT_CONFIG=internal/.test(error.message),
    );
    assert.throws(() => chooseModulePolicy({ kind: 'unreadable', path: '/etc/ocicrypt.conf', reason: 'EACCES' }, payload, 'x64'), /cannot read the ocicrypt config \/etc\/ocicrypt\.conf \(EACCES\)/);
  });

  it('reads the lists at the top level too, and an empty file as nothing allowed', () => {
    assert.deepEqual(parseModulePolicy('module-directories: [/a/]\n', 'f').moduleDirectories, ['/a/']);
    assert.deepEqual(parseModulePolicy('', 'f'), { source: 'f', moduleDirectories: [], allowedModulePaths: [] });
  });

  for (const [text, message] of [
    ['pkcs11: [a]', /f: pkcs11 must be a mapping/],
    ['pkcs11:\n  module-directories: /usr/lib/', /module-directories must be a list of paths/],
    ['- a', /f is not a YAML mapping/],
    ['pkcs11:\n\tx: 1', /f is not readable YAML \(line 2: tabs/],
  ] as const) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseModulePolicy(text, 'f'), (error: unknown) => error instanceof Pkcs11ConfigError && message.test(error.message));
    });
  }
});

describe('module lookup', () => {
  /** A fake filesystem: directory -> entries; files are what the entries name. */
  const fakeFiles = (tree: Record<string, string[]>): ModuleFiles => ({
    kind: (path) => (path in tree || `${path}/` in tree ? 'directory' : Object.entries(tree).some(([dir, entries]) => entries.some((e) => dir + e === path)) ? 'file' : 'missing'),
    list: (directory) => tree[directory] ?? null,
  });
  const files = fakeFiles({
    '/usr/lib/softhsm/': ['libsofthsm2.so'],
    '/usr/lib/pkcs11/': ['libSoftHSM.so.2', 'opensc-pkcs11.so', 'p11-kit-trust.so'],
  });
  const policy = (allowed: string[], directories = ['/usr/lib/pkcs11/', '/usr/lib/softhsm/']): ModulePolicy => ({
    source: 'test',
    moduleDirectories: directories,
    allowedModulePaths: allowed,
  });
  const lookup = (query: string, allowed: string[] = ['/usr/lib/softhsm/', '/usr/lib/pkcs11/']) =>
    findModule(parsePkcs11Uri(`pkcs11:token=t?${query}`), policy(allowed), files);

  it('module-name matches case-insensitively when followed by nothing or a dot', () => {
    assert.equal(lookup('module-name=softhsm2'), '/usr/lib/softhsm/libsofthsm2.so');
    assert.equal(lookup('module-name=SOFTHSM'), '/usr/lib/pkcs11/libSoftHSM.so.2');
    assert.equal(lookup('module-name=opensc-pkcs11'), '/usr/lib/pkcs11/opensc-pkcs11.so');
    assert.throws(() => lookup('module-name=p11-kit'), /no module named "p11-kit" in "\/usr\/lib\/pkcs11\/", "\/usr\/lib\/softhsm\/" \(policy: test\)/);
  });

  it('module-path: a file is used as it is, a directory is searched', () => {
    assert.equal(lookup('module-path=/usr/lib/softhsm/libsofthsm2.so'), '/usr/lib/softhsm/libsofthsm2.so');
    assert.equal(lookup('module-path=/usr/lib/pkcs11/&module-name=opensc-pkcs11'), '/usr/lib/pkcs11/opensc-pkcs11.so');
    assert.throws(() => lookup('module-path=/nonexistent.so'), /module-path "\/nonexistent\.so" does not exist/);
    assert.throws(() => lookup('pin-value=1'), /the URI has neither module-name nor module-path/);
  });

  it('the module found must be allowed; a disallowed first match is an error', () => {
    assert.throws(
      () => lookup('module-name=softhsm2', ['/usr/lib/pkcs11/']),
      (error: unknown) => error instanceof ModuleLookupError && /module "\/usr\/lib\/softhsm\/libsofthsm2\.so" is outside allowed-module-paths \(policy: test\)/.test(error.message),
    );
    assert.throws(() => lookup('module-path=/usr/lib/softhsm/libsofthsm2.so', []), /outside allowed-module-paths/);
    assert.equal(lookup('module-name=softhsm2', ['/usr/lib/softhsm/libsofthsm2.so']), '/usr/lib/softhsm/libsofthsm2.so');
  });

  it('an allowed directory covers its direct entries only', () => {
    assert.equal(isAllowedModule('/usr/lib/pkcs11/x.so', ['/usr/lib/pkcs11/']), true);
    assert.equal(isAllowedModule('/usr/lib/pkcs11/sub/x.so', ['/usr/lib/pkcs11/']), false);
    assert.equal(isAllowedModule('/usr/lib/pkcs11/../../tmp/x.so', ['/usr/lib/pkcs11/']), false);
    assert.equal(isAllowedModule('/usr/lib/pkcs11x.so', ['/usr/lib/pkcs11']), false);
    assert.equal(isAllowedModule('/usr/lib/pkcs11', ['/usr/lib/pkcs11']), true);
  });
});

describe('module environment', () => {
  it('is set for the call only: changed, added and thrown-through variables are all restored', () => {
    process.env['CTD_P11_TEST_KEPT'] = 'before';
    delete process.env['CTD_P11_TEST_ADDED'];
    const variables = new Map([
      ['CTD_P11_TEST_KEPT', 'during'],
      ['CTD_P11_TEST_ADDED', 'new'],
    ]);
    const seen = withEnvironment(variables, () => [process.env['CTD_P11_TEST_KEPT'], process.env['CTD_P11_TEST_ADDED']]);
    assert.deepEqual(seen, ['during', 'new']);
    assert.equal(process.env['CTD_P11_TEST_KEPT'], 'before');
    assert.equal('CTD_P11_TEST_ADDED' in process.env, false);
    assert.throws(() =>
      withEnvironment(variables, () => {
        throw new Error('module failed');
      }),
    );
    assert.equal(process.env['CTD_P11_TEST_KEPT'], 'before');
    assert.equal('CTD_P11_TEST_ADDED' in process.env, false);
  });
});
