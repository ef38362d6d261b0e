/**
 * Every limit on the work an image (or a payload, or a stream on fd 3) can
 * cause, in one place: the README's threat-model table lists these values and
 * a unit test keeps the two in step. Each is far above what any real image
 * needs (ocicrypt writes one item per scheme with a handful of recipients), so
 * they bind only on hostile input; below them every parser is linear in its
 * input.
 */

/** The decryption payload, which carries the layer descriptor and so every annotation on the decode path. */
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

/** How long the payload on fd 3 may take to reach its end: containerd writes a few KiB and closes. */
export const PAYLOAD_READ_DEADLINE_MS = 10_000;

/** An index or manifest read by the operator commands, which carries the annotations on the inspect path. */
export const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;

/** Comma-separated items in one wrapped-key annotation. */
export const MAX_WRAPPED_ITEMS = 64;

/**
 * Bytes of one decoded wrapped-key item. The largest real ones, 64 RSA-4096
 * recipients in one JWE, PKCS#7 or OpenPGP item, are about 50 KiB; every try
 * of a key re-reads its item's headers, so this bounds that work too.
 */
export const MAX_WRAPPED_ITEM_BYTES = 256 * 1024;

/** Recipients in one wrapped-key item (JWE recipients, PKCS#7 RecipientInfos, OpenPGP PKESKs, PKCS#11 blobs). */
export const MAX_RECIPIENTS_PER_ITEM = 64;

/**
 * Private-key operations for one layer, over all schemes together: each tried
 * (key, recipient) pair of jwe, pkcs7, pgp and pkcs11, each token call and
 * each key-provider call. Without it the per-item limits multiply (64 items
 * x 64 recipients x every key x every scheme). 512 RSA-4096 decryptions are
 * about a second of one core; a real image with a handful of recipients
 * needs as many operations as keys the node tries on each.
 */
export const MAX_PRIVATE_KEY_OPERATIONS_PER_LAYER = 512;

/** `C_Decrypt` calls on PKCS#11 tokens for one layer: a network HSM or TPM is shared and slow. */
export const MAX_TOKEN_OPERATIONS_PER_LAYER = 32;

/** Key-provider calls (command runs or gRPC requests) for one layer. */
export const MAX_PROVIDER_CALLS_PER_LAYER = 8;

/** ASN.1 nesting in a PKCS#7 item; CMS needs about 10. */
export const MAX_DER_DEPTH = 32;

/** Octets of a DER length field: element sizes below 4 GiB, and never more than their container. */
export const MAX_DER_LENGTH_OCTETS = 4;

/** Content octets of an OBJECT IDENTIFIER; the longest real ones are about 20 (each arc must also stay below 2^53). */
export const MAX_OID_BYTES = 64;

/** Packets in one OpenPGP item: one PKESK per recipient, the encrypted data, and a few more. */
export const MAX_OPENPGP_PACKETS_PER_ITEM = MAX_RECIPIENTS_PER_ITEM + 16;

/** Partial-length chunks in one OpenPGP packet (an item's encrypted data is a few KiB in a few chunks). */
export const MAX_OPENPGP_CHUNKS_PER_PACKET = 1024;
