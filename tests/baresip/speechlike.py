#!/usr/bin/env python3
"""Writes a speech-like test signal (48 kHz, stereo, 16-bit WAV): syllables
of a voiced sound (a 110-220 Hz pulse train with harmonics, pitch gliding)
and unvoiced noise, four per second, with pauses, so a variable-bitrate
codec changes its frame sizes the way it does for speech. Deterministic
(fixed seed); no recorded voice. Usage: speechlike.py OUT.wav [SECONDS]"""
import math, random, struct, sys, wave

out, secs = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 12.0
rate = 48000
rnd = random.Random(1)
frames = bytearray()
n = int(secs * rate)
phase = 0.0
for i in range(n):
    t = i / rate
    syl = t * 4.0
    k, pos = int(syl), syl - int(syl)
    pause = (k % 7) == 6
    env = 0.0 if pause else math.sin(math.pi * pos) ** 2
    f0 = 110 + 110 * ((k * 37) % 11) / 10 + 20 * math.sin(2 * math.pi * 3 * t)
    phase += 2 * math.pi * f0 / rate
    voiced = sum(math.sin(h * phase) / h for h in range(1, 12))
    noise = rnd.uniform(-1, 1)
    x = env * (0.5 * voiced if k % 3 else 0.6 * noise) * 0.5
    s = int(max(-1.0, min(1.0, x)) * 20000)
    frames += struct.pack("<hh", s, s)
with wave.open(out, "wb") as w:
    w.setnchannels(2)
    w.setsampwidth(2)
    w.setframerate(rate)
    w.writeframes(bytes(frames))
