/** Express adapters (Express 4 and 5). One export line per stage. */
import './augment.js';
export {};
export { geoTag } from './geo.js';
