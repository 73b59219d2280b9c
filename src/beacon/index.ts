import { attachBeacon } from './attach.ts';

export { attachBeacon, type Beacon, type BeaconMedia, type BeaconOptions } from './attach.ts';

/** Where the stream handler (`beacon: true`) takes reports and serves {@link BEACON_SCRIPT}. */
export const BEACON_PATH = '/_sage/beacon';
/** The script's path: `<script src="/_sage/beacon.js" defer></script>`. */
export const BEACON_SCRIPT_PATH = '/_sage/beacon.js';

/**
 * The beacon as a classic script: it defines `window.sageBeacon.attach(video, options)` and
 * attaches to every `<video data-sage-beacon>` on the page (its `data-src` names the media URL
 * for hls.js/dash.js players), once the document has loaded.
 */
export const BEACON_SCRIPT: string = `(function () {
'use strict';
var attach = ${attachBeacon.toString()};
var attached = new WeakSet();
var scan = function () {
  document.querySelectorAll('video[data-sage-beacon]').forEach(function (video) {
    if (attached.has(video)) return;
    attached.add(video);
    attach(video, video.dataset.src ? { src: video.dataset.src } : {});
  });
};
window.sageBeacon = { attach: attach, scan: scan };
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', scan);
else scan();
})();
`;
