// Builds console/dist from console/src plus the npm packages (run after `npm ci`).
import { cpSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, 'vendor'), { recursive: true });
cpSync(join(here, 'src'), dist, { recursive: true });
const echarts = join(here, 'node_modules', 'echarts', 'dist', 'echarts.min.js');
if (!existsSync(echarts)) {
  console.error('echarts not installed: run npm ci in console/ first');
  process.exit(1);
}
cpSync(echarts, join(dist, 'vendor', 'echarts.min.js'));
console.log('console built into ' + dist);
