// Public entry point of the fake Kubernetes API server test fixture.

export { FakeApiServer } from './server.ts';
export type {
  FailOptions,
  FakeApiServerOptions,
  FakeApiServerTls,
  FakeObjectMeta,
  KubeObject,
  RequestFilter,
  RequestRecord,
} from './server.ts';
export { FakeApiError, failureStatus, reasonForCode } from './errors.ts';
export type { StatusObject, StatusDetails } from './errors.ts';
export type { PatchType } from './store.ts';
export { RESOURCES, resolveKind } from './resources.ts';
export type { ResourceDef } from './resources.ts';
export { rawRequest, rawWatch, waitFor } from './helpers.ts';
export type { RawResponse, RawRequestOptions, RawTlsOptions, RawWatch, WatchEvent } from './helpers.ts';
