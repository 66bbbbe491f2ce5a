// ferry's own package.json: one folder up from the sources, two from their compiled copies in dist/.
import { existsSync, readFileSync } from 'node:fs';

export interface PackageInfo {
  name: string;
  version: string;
}

let info: PackageInfo | undefined;

export function ferryPackage(): PackageInfo {
  if (info) return info;
  const besideSources = new URL('../package.json', import.meta.url);
  const file = existsSync(besideSources) ? besideSources : new URL('../../package.json', import.meta.url);
  const { name, version } = JSON.parse(readFileSync(file, 'utf8')) as PackageInfo;
  info = { name, version };
  return info;
}
