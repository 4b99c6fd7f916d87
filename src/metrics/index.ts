/** realip/metrics entry (filled in by its issue). */
export {};
