declare const CTD_DECODER_VERSION: string | undefined;

/** Set by the bundler from package.json; "dev" when run from source. */
export const VERSION = typeof CTD_DECODER_VERSION === 'string' ? CTD_DECODER_VERSION : 'dev';
