/** realip/sidecar entry (filled in by its issue). */
export {};
