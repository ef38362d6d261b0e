import { parsePkcs11Uri, Pkcs11UriError, type Pkcs11Uri } from './pkcs11-uri.ts';
import { isMapping, parseYaml, YamlError, type YamlValue } from '../encoding/yaml.ts';

/**
 * ocicrypt's PKCS#11 key file:
 *
 *     pkcs11:
 *       uri: pkcs11:token=t;object=k?module-name=softhsm2&pin-value=1234
 *     module:
 *       env:
 *         SOFTHSM2_CONF: /etc/softhsm/softhsm2.conf
 *
 * Unknown keys are ignored, as Go's YAML decoding into a struct does.
 */
export interface Pkcs11KeyFile {
  uri: Pkcs11Uri;
  /** The uri text, for describing the key (it may hold a PIN: redact before showing). */
  uriText: string;
  /** Variables the module needs while it is in use (e.g. SOFTHSM2_CONF). */
  moduleEnv: ReadonlyMap<string, string>;
}

export class Pkcs11KeyFileError extends Error {
  /**
   * False when the bytes are not YAML with a top-level pkcs11 key, so not a
   * PKCS#11 key file at all; true for one that cannot be used (which
   * classification reports rather than trying other kinds of key).
   */
  readonly meantAsKeyFile: boolean;

  constructor(message: string, meantAsKeyFile: boolean) {
    super(message);
    this.meantAsKeyFile = meantAsKeyFile;
  }
}

export function parsePkcs11KeyFile(bytes: Buffer): Pkcs11KeyFile {
  let root: YamlValue;
  try {
    root = parseYaml(bytes.toString('utf8'));
  } catch (error) {
    if (error instanceof YamlError) throw new Pkcs11KeyFileError(`not readable YAML (${error.message})`, false);
    throw error;
  }
  const section = isMapping(root) ? root.get('pkcs11') : undefined;
  const uriText = isMapping(section) ? section.get('uri') : undefined;
  if (typeof uriText !== 'string') throw new Pkcs11KeyFileError('no pkcs11.uri', section !== undefined);
  let uri: Pkcs11Uri;
  try {
    uri = parsePkcs11Uri(uriText);
  } catch (error) {
    if (error instanceof Pkcs11UriError) throw new Pkcs11KeyFileError(`bad pkcs11.uri: ${error.message}`, true);
    throw error;
  }
  return { uri, uriText, moduleEnv: moduleEnvOf(isMapping(root) ? root.get('module') : undefined) };
}

function moduleEnvOf(module: YamlValue | undefined): Map<string, string> {
  const env = new Map<string, string>();
  if (module === undefined || module === null) return env;
  if (!isMapping(module)) throw new Pkcs11KeyFileError('module must be a mapping', true);
  const variables = module.get('env');
  if (variables === undefined || variables === null) return env;
  if (!isMapping(variables)) throw new Pkcs11KeyFileError('module.env must be a mapping of variable names to values', true);
  for (const [name, value] of variables) {
    if (name === '' || name.includes('=') || name.includes('\0')) throw new Pkcs11KeyFileError('module.env has an invalid variable name', true);
    if (value !== null && typeof value !== 'string') throw new Pkcs11KeyFileError(`module.env.${name} must be a string`, true);
    if (value?.includes('\0')) throw new Pkcs11KeyFileError(`module.env.${name} contains a NUL byte`, true);
    env.set(name, value ?? '');
  }
  return env;
}
