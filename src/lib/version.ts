import { createRequire } from 'node:module'

/**
 * The package version, from package.json at the package root (this module runs from
 * dist/src/lib/, three folders below it): also the version of the tarball `npm pack` makes,
 * punchr-<version>.tgz.
 */
export const VERSION: string = (
  createRequire(import.meta.url)('../../../package.json') as { version: string }
).version
