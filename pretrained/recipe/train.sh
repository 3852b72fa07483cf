#!/bin/sh
# Trains the embedded synth32 model of package pretrained from scratch and
# packs it as pretrained/synth32 expects. Every stage is deterministic, so
# on an amd64 machine with AVX-512 this should rebuild the shipped files
# byte for byte (the legs were run this way; the whole script was not re-run
# end to end). Wall time on the 2-core reference machine: about 1 h 10 min
# for the tokenizer, 10 min for the data, about 4 h 40 min for the
# transformer.
#
#	go build -o lvm ./cmd/lvm && LVM=./lvm sh pretrained/recipe/train.sh [OUT]
set -eu
R=$(dirname "$0")
OUT=${1:-synth32-run}
LVM=${LVM:-lvm}
mkdir -p "$OUT"

# Stage 1: the VQGAN tokenizer (recon + codebook + commitment loss, dead-code
# restarts), 16 fresh Train-split images a step. The shipped one was trained
# in three legs, each with its own warmup + cosine schedule over --steps:
# 3000 steps, then towards 6500 until step 3384, then towards 5000.
"$LVM" train-tokenizer --config "$R/vqgan.json" --out "$OUT/tok" --steps 3000
"$LVM" train-tokenizer --out "$OUT/tok" --resume --steps 6500 --until 3384
"$LVM" train-tokenizer --out "$OUT/tok" --resume --steps 5000

# Stage 2: 24 000 visual sentences of the Train split (20 % sequential, 60 %
# analogies of 1–5 pairs, 20 % composites; at most 12 images = 768 tokens),
# tokenized into the official trainer's JSON lines.
for s in 1 2; do
	"$LVM" synth --tokenizer "$OUT/tok" --out "$OUT/train$s.jsonl" --sentences 12000 --seed $s \
		--max-images 12 --mix 0.2,0.6,0.2
done

# Stage 3: the transformer (next-token cross-entropy over packed rows of 768
# tokens, AdamW β 0.9/0.95, weight decay 0.1, clipping at 1, warmup +
# cosine, rows of 4), 6000 steps in three legs:
#  - a schedule of 3100 steps on the mixed-length sentences, stopped after
#    step 1547, then resumed on a schedule of 5000 and stopped after 2834
#    (8.7 M tokens);
#  - resumed on a schedule of 6000 with sentences of exactly 12 images, so
#    that every packed row is one sentence from its start (9.7 M tokens).
#    Without that, a sentence starts anywhere in a row and nothing marks
#    which image is an example's x and which its f(x): by step 2834 the
#    answers' perplexity did not fall with more examples.
for s in 3 4; do
	"$LVM" synth --tokenizer "$OUT/tok" --out "$OUT/exact$s.jsonl" --sentences 5000 --seed $s \
		--max-images 12 --exact --mix 0.2,0.6,0.2
done
"$LVM" synth --tokenizer "$OUT/tok" --out "$OUT/exact5.jsonl" --sentences 3000 --seed 5 \
	--max-images 12 --exact --mix 0.2,0.6,0.2
TRAIN="--rows 4 --lr 1e-3 --end-lr 1e-4 --warmup 100 --seed 1"
"$LVM" train --data "$OUT/train1.jsonl,$OUT/train2.jsonl" --config "$R/llama-5m.json" --out "$OUT/lm" \
	--steps 3100 --until 1547 $TRAIN
"$LVM" train --data "$OUT/train1.jsonl,$OUT/train2.jsonl" --out "$OUT/lm" --resume --steps 5000 --until 2834 $TRAIN
"$LVM" train --data "$OUT/exact3.jsonl,$OUT/exact4.jsonl,$OUT/exact5.jsonl" --out "$OUT/lm" --resume \
	--steps 6000 $TRAIN

# Stage 3, continued (second session): 12 900 steps in all, 39.6 M tokens.
#  - 5000 steps on 20 000 fresh exact sentences with more analogies (10 %
#    sequential, 80 % analogies of 5 pairs, 10 % composites), on a cosine
#    over 11 000 steps from 6e-4 to 1e-4: the learning rate jumps back to
#    3.2e-4 at step 6000 and decays to 1e-4;
#  - 1900 steps on 8000 more, annealing from 1.5e-4 to 3e-5: the tail of a
#    cosine over 12 900 steps whose nominal peak, 2.3e-3, is never used.
for s in 6 7; do
	"$LVM" synth --tokenizer "$OUT/tok" --out "$OUT/exact$s.jsonl" --sentences 10000 --seed $s \
		--max-images 12 --exact --mix 0.1,0.8,0.1
done
"$LVM" synth --tokenizer "$OUT/tok" --out "$OUT/exact8.jsonl" --sentences 8000 --seed 8 \
	--max-images 12 --exact --mix 0.1,0.8,0.1
TAIL="--rows 4 --warmup 100 --seed 1"
"$LVM" train --data "$OUT/exact6.jsonl,$OUT/exact7.jsonl" --out "$OUT/lm" --resume --steps 11000 \
	--lr 6e-4 --end-lr 1e-4 $TAIL
"$LVM" train --data "$OUT/exact8.jsonl" --out "$OUT/lm" --resume --steps 12900 --lr 2.3e-3 --end-lr 3e-5 $TAIL

# Stage 4 (third session): a tokenizer good enough for the ≥ 30 dB target,
# without training the transformer again from scratch.
#  - The codebook grows from 512 to 2048 codes (each new code a noisy copy
#    of an old one) and the whole VQGAN trains on for 2000 steps with
#    k-means++ dead-code restarts;
#  - then the decoder alone (encoder and codebook frozen, so every image
#    keeps its codes) for 3000 steps with its own schedule. 29.2 → 30.1 dB.
"$LVM" train-tokenizer --from "$OUT/tok" --codebook 2048 --restart far --out "$OUT/tok2048" --steps 2000 \
	--lr 5e-4 --end-lr 5e-5 --seed 10
"$LVM" train-tokenizer --from "$OUT/tok2048" --decoder-only --out "$OUT/tok2048d" --steps 3000 \
	--lr 5e-4 --end-lr 2e-5 --seed 12
#  - The transformer moves to the new codes: each of the 2048 codes takes the
#    embedding and output row of the old code it replaces most often
#    (lvm remap-vocab, on 4096 Train-split images), and training goes on
#    with 12 000 sentences tokenized by the new tokenizer: a schedule of
#    4000 steps stopped after step 495, then resumed on one of 3000.
for s in 9 10; do
	"$LVM" synth --tokenizer "$OUT/tok2048" --out "$OUT/g$s.jsonl" --sentences 6000 --seed $s \
		--max-images 12 --exact --mix 0.1,0.8,0.1
done
"$LVM" remap-vocab --model "$OUT/lm" --parent-tokenizer "$OUT/tok" --tokenizer "$OUT/tok2048" --out "$OUT/lm2048init"
G="--rows 4 --lr 4e-4 --end-lr 3e-5 --warmup 100 --seed 1"
"$LVM" train --data "$OUT/g9.jsonl,$OUT/g10.jsonl" --from "$OUT/lm2048init" --out "$OUT/lm2048" --steps 4000 --until 495 $G
"$LVM" train --data "$OUT/g9.jsonl,$OUT/g10.jsonl" --out "$OUT/lm2048" --resume --steps 3000 $G

# Pack: the transformer in float16, the tokenizer as trained.
"$LVM" convert --model "$OUT/lm2048" --out "$OUT/synth32/model" --dtype f16
mkdir -p "$OUT/synth32/tokenizer"
cp "$OUT/tok2048d/config.json" "$OUT/tok2048d/model.safetensors" "$OUT/synth32/tokenizer/"
echo "done: $OUT/synth32 (compare with pretrained/synth32)"
