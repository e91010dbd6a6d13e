/**
 * The parts of @kubernetes/client-node that opsbot runs, and the only module that imports them.
 *
 * The package's root module loads all of its 60 API groups, three wrappers each, and every helper
 * (exec, attach, cp, port-forward and the packages they need): about 75 MB of a process's memory.
 * Each name here comes from the module that defines it, and `npm run build` bundles the bot with
 * esbuild (scripts/build.mjs), which keeps only these. Types may still be imported
 * from the package's root: they cost nothing at run time.
 */
export { KubeConfig } from '@kubernetes/client-node/dist/config.js';
export { ApiException } from '@kubernetes/client-node/dist/gen/apis/exception.js';
export {
  ObjectAppsV1Api as AppsV1Api,
  ObjectAuthorizationV1Api as AuthorizationV1Api,
  ObjectCoreV1Api as CoreV1Api,
  ObjectVersionApi as VersionApi,
} from '@kubernetes/client-node/dist/gen/types/ObjectParamAPI.js';
export { makeInformer } from '@kubernetes/client-node/dist/informer.js';
export { setHeaderOptions } from '@kubernetes/client-node/dist/middleware.js';
export { KubernetesObjectApi } from '@kubernetes/client-node/dist/object.js';
export { PatchStrategy } from '@kubernetes/client-node/dist/patch.js';
