// The two browser applications Tresor serves next to its APIs (docs/viewer.md,
// docs/architecture.md "The site"):
//
//   GET /*           public   the console: ui/console/ compiled into the binary (or
//                             `console_dir`), SPA fallback to index.html; paths under
//                             /api, /auth, /dicom-web and /viewer are never console pages
//                             (JSON 404). CSP kConsoleCsp.
//   GET /viewer      public   308 to /viewer/
//   GET /viewer/*    auth     OHIF's dist from `viewer_dir` with SPA fallback; a browser
//                             navigation without a session is redirected (303) to
//                             /?next=<path>, anything else gets 401. app-config.js is
//                             generated (ViewerAppConfig). COOP same-origin, COEP
//                             require-corp, CORP same-origin, CSP kViewerCsp; hashed
//                             bundles cacheable (private), the rest revalidated (ETag).
#pragma once

#include <string>

#include "web/router.h"

namespace tresor::web {

// Console pages: no inline script or style, data only from same-origin APIs.
inline constexpr char kConsoleCsp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";
// OHIF: wasm codecs ('wasm-unsafe-eval', no 'unsafe-eval'), workers from its own files
// and blob: URLs, CSS-in-JS style attributes and <style> elements ('unsafe-inline' for
// styles only; script stays 'self'). Each source is explained in docs/viewer.md.
inline constexpr char kViewerCsp[] =
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self' data: blob:; media-src 'self' blob:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

struct SiteOptions {
  std::string console_dir;  // empty: the embedded console
  std::string viewer_dir;   // OHIF's adapted dist; a missing folder answers 404 with a
                            // hint to run scripts/install-viewer
};

// Where scripts/install-viewer put the viewer: $TRESOR_OHIF_DIR/dist when set, else the
// source checkout's .cache/ohif/dist (fixed at build time).
std::string DefaultViewerDir();

// OHIF's window.config for this server: one DICOMweb data source on /dicom-web (same
// origin, the session cookie authenticates), routerBasename /viewer.
std::string ViewerAppConfig();

// Adds the console and viewer routes above. Add them after every API route.
void AddSiteRoutes(Router& router, const SiteOptions& options);

}  // namespace tresor::web
