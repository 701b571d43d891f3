// This package's name and version as constants, so a bundled app keeps them (a runtime read of
// package.json does not survive bundling). test/package.test.ts checks them against package.json.
export const PACKAGE_NAME = 'fastify-runner-metrics'
export const PACKAGE_VERSION = '0.1.0'
