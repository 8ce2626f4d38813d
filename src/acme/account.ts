// The ACME account lives in a Secret in the pod's namespace, so a new leader (or a restarted
// pod) keeps using the same account: no new-account rate limits, one contact address, one
// history at the CA. The key is written before the account is registered, so two leaders in
// a split-brain moment cannot both register different keys: the second create gets 409 and
// adopts the first key.
//
// Layout (type Opaque):
//   account.key        PEM private key (ECDSA P-256)
//   account-urls.json  {"<directory URL>": "<account URL>", …}  (one key, one account per CA)
//   email              the contact last registered

import * as acme from 'acme-client';
import type { KubeApi } from '../sources/kubernetes/api.ts';
import type { Secret } from '../store/types.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from './challenges.ts';
import { b64, getSecret, mutateSecret, secretString } from './secrets.ts';

export const DEFAULT_ACCOUNT_SECRET = 'portico-acme-account';

export interface StoredAccount {
  keyPem: string;
  urls: Record<string, string>;
  email: string | undefined;
}

function readAccount(secret: Secret | undefined): StoredAccount | undefined {
  const keyPem = secretString(secret, 'account.key');
  if (!keyPem || !keyPem.includes('PRIVATE KEY')) return undefined;
  let urls: Record<string, string> = {};
  try {
    const parsed: unknown = JSON.parse(secretString(secret, 'account-urls.json') ?? '{}');
    if (parsed !== null && typeof parsed === 'object') {
      urls = Object.fromEntries(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string'));
    }
  } catch {
    urls = {};
  }
  return { keyPem, urls, email: secretString(secret, 'email') };
}

export class AccountStore {
  private readonly api: KubeApi;
  private readonly namespace: string;
  private readonly name: string;

  constructor(opts: { api: KubeApi; namespace: string; name?: string }) {
    this.api = opts.api;
    this.namespace = opts.namespace;
    this.name = opts.name ?? DEFAULT_ACCOUNT_SECRET;
  }

  get secretRef(): string {
    return `${this.namespace}/${this.name}`;
  }

  /** The stored account, creating the Secret with a fresh key when there is none. */
  async loadOrCreate(): Promise<StoredAccount> {
    const existing = readAccount(await getSecret(this.api, this.namespace, this.name));
    if (existing) return existing;
    const keyPem = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString('utf8');
    const stored = await mutateSecret(this.api, this.namespace, this.name, (current) => {
      if (readAccount(current)) return undefined; // someone else wrote a key first: adopt it
      const data = { ...(current?.data ?? {}), 'account.key': b64(keyPem), 'account-urls.json': b64('{}') };
      if (current) return { ...current, data };
      return {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: this.name, namespace: this.namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } },
        type: 'Opaque',
        data,
      };
    });
    const account = readAccount(stored);
    if (!account) throw new Error(`ACME account Secret ${this.secretRef} could not be written`);
    return account;
  }

  /** Records the account URL for `directoryUrl` (and the contact), for the key in the Secret. */
  async saveRegistration(keyPem: string, directoryUrl: string, accountUrl: string, email: string | undefined): Promise<void> {
    await mutateSecret(this.api, this.namespace, this.name, (current) => {
      const acc = readAccount(current);
      if (!current || !acc) throw new Error(`ACME account Secret ${this.secretRef} disappeared`);
      if (acc.keyPem.trim() !== keyPem.trim()) throw new Error(`ACME account key in ${this.secretRef} changed while registering; will retry`);
      if (acc.urls[directoryUrl] === accountUrl && acc.email === email) return undefined;
      const urls = { ...acc.urls, [directoryUrl]: accountUrl };
      const data: Record<string, string> = { ...(current.data ?? {}), 'account-urls.json': b64(JSON.stringify(urls)) };
      if (email) data.email = b64(email);
      else delete data.email;
      return { ...current, data };
    });
  }
}
