// The gate's camera: frames from getUserMedia in a <video>, read for QR codes by the browser's own
// BarcodeDetector where it has one that knows QR codes, else by the vendored jsQR on frames drawn to a
// canvas. Each code read is handed to `onCode(text)`; what to make of repeats is the caller's business.

const SCAN_EVERY_MS = 120;
const MAX_FRAME_SIDE = 960; // bigger frames cost jsQR more time than they add reads

async function nativeDetector() {
  if (!("BarcodeDetector" in globalThis)) return null;
  try {
    const formats = await globalThis.BarcodeDetector.getSupportedFormats();
    return formats.includes("qr_code") ? new globalThis.BarcodeDetector({ formats: ["qr_code"] }) : null;
  } catch {
    return null;
  }
}

/** jsQR is a UMD bundle: imported as a module it sets self.jsQR. Loaded before doors, for offline use. */
export async function loadJsQR() {
  if (!globalThis.jsQR) await import("../../vendor/jsqr/jsQR.js");
  return globalThis.jsQR;
}

/** Which reader this browser will use: "BarcodeDetector" or "jsQR". */
export async function readerName() {
  return (await nativeDetector()) ? "BarcodeDetector" : "jsQR";
}

/**
 * Start reading QR codes from the camera into `video`. Resolves to {reader, stop()}; rejects with the
 * browser's error (NotAllowedError: permission refused, NotFoundError: no camera).
 */
export async function startCamera(video, onCode) {
  if (!navigator.mediaDevices?.getUserMedia) throw new Error("This browser cannot use a camera here.");
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: { ideal: "environment" } },
    audio: false,
  });
  const detector = await nativeDetector();
  const jsQR = detector ? null : await loadJsQR();
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  await video.play();
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  let stopped = false;
  let timer = null;

  function readFrame() {
    const scale = Math.min(1, MAX_FRAME_SIDE / Math.max(video.videoWidth, video.videoHeight));
    const width = Math.round(video.videoWidth * scale);
    const height = Math.round(video.videoHeight * scale);
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    context.drawImage(video, 0, 0, width, height);
    const image = context.getImageData(0, 0, width, height);
    return jsQR(image.data, width, height, { inversionAttempts: "dontInvert" })?.data || null;
  }

  async function tick() {
    if (stopped) return;
    try {
      if (video.readyState >= 2 && video.videoWidth) {
        const text = detector ? (await detector.detect(video))[0]?.rawValue : readFrame();
        if (text && !stopped) onCode(text);
      }
    } catch (error) {
      console.warn("camera frame not read", error);
    }
    if (!stopped) timer = setTimeout(tick, SCAN_EVERY_MS);
  }
  tick();

  return {
    reader: detector ? "BarcodeDetector" : "jsQR",
    stop() {
      stopped = true;
      clearTimeout(timer);
      for (const track of stream.getTracks()) track.stop();
      video.srcObject = null;
    },
  };
}
