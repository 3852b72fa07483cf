// Package tokenizer is the LVM's VQGAN: it turns an image into a grid of
// discrete codes ("visual tokens") and a grid of codes back into an image,
// bit-compatible with the official release (open-muse's VQGANModel, as
// shipped with the LVM 7B checkpoint; REFERENCE §2).
//
// # Where an image becomes tokens
//
//	image.Image
//	  │ Preprocess: convert to RGB, squash to R×R (Pillow bicubic), /255
//	  ▼
//	pixels [B, C, H, W] float32 in [0,1]               (C = 3, H = W = R = 256)
//	  │ encoder: conv_in, levels down.0…down.L-1 (ResnetBlocks, downsample),
//	  │          mid (block_1, [attn_1], block_2), norm_out, SiLU, conv_out
//	  │ quant_conv (1×1)                                ── Tokenizer.Latent
//	  ▼
//	latent [B, E, h, w] float32                         (E = 64, h = w = R/16 = 16)
//	  │ quantizer: nearest codebook row, argmin ‖z − e_j‖²  ── Tokenizer.Quantize
//	  ▼
//	codes [B, h·w] int in [0, K), index = w·row + col   (K = 8192: 256 tokens/image)
//
// and back: codes → codebook rows [B, E, h, w] (Tokenizer.Lookup) →
// post_quant_conv → decoder (conv_in, mid, levels up.L-1…up.0, norm_out,
// SiLU, conv_out) → raw pixels [B, C, H, W] (Tokenizer.DecodeLatent) →
// clamp to [0,1], ×255, truncate → image.Image (PixelsToImage).
//
// Tokenizer.Encode and Tokenizer.Decode do the whole trip for one image;
// EncodeBatch/DecodeBatch for several; EncodePixels/DecodePixels work on
// CHW float32 slices, and EncodeTensor/DecodeTensor and the stage methods
// above on *tensor.Dense values, for callers who do their own image
// handling.
//
// # Dimension names
//
//	B  batch (images)
//	C  image channels (num_channels, 3 = RGB); also channels of an activation
//	H, W  image height and width in pixels (Resolution × Resolution for codes)
//	h, w  latent grid height and width: H/f, W/f, f = 2^(levels−1) = 16
//	E  codebook vector length, the latent's channels (quantized_embed_dim, 64)
//	K  codebook size (num_embeddings, 8192)
//	L  resolution levels, len(channel_mult) (5)
//
// Public tensors are row-major NCHW (pixels, latents) or [B, h·w] (codes).
// Inside the package activations are channels-last (HWC), which makes every
// convolution a matrix product whose output is already in that layout.
//
// # Configurations and weights
//
// Config mirrors the official config.json; ReleasedConfig is the shipped
// one (146,244,675 parameters). Any configuration of the same structure
// works: other widths, depths, codebook sizes and resolutions, attention in
// the mid block (no_attn_mid_block false) or at chosen levels
// (attn_resolutions), and resample_with_conv false. Load and LoadFiles read
// config.json with model.safetensors or pytorch_model.bin (see
// internal/weights), checking every tensor's name and shape; New builds a
// Tokenizer from parameters in memory. Weights are converted to float32 and
// laid out for the kernels once, at load time.
//
// TrainVQGAN and Trainer train a model of any such configuration (without
// dropout) in float32, the tokenizer stage of the LVM recipe: Trainer runs
// the steps over an ImageSource, and TrainVQGAN.Save writes a checkpoint
// that Load reads.
//
// # Numerics
//
// Stride-1 3×3 convolutions run as Winograd matrix products: F(4×4, 3×3)
// for the layers at 32×32 and above of at most 512 channels (where nearly
// all of the arithmetic is), with the package's AVX-512 kernels, and
// F(2×2, 3×3) on internal/kernels.MatMulNT for the others (and for every
// layer on CPUs without AVX-512). The other convolutions are im2col
// products (on the package's packed kernel where the output width is a
// multiple of 64, on MatMulNT otherwise), and the decoder's 3-channel
// output layer has a kernel of its own. F(4,3) rounds a few times more
// than direct convolution, which is why it is kept off the small, deep
// layers whose errors the rest of the network amplifies most. GroupNorm
// statistics are accumulated in float64. Against the official PyTorch
// outputs the latent agrees to about 4e-6 and the decoder output to about
// 2e-5 (tests require 1e-4). The quantizer re-scores every code within a
// rounding bound of the best in float64, so it picks the exactly nearest
// code (ties to the lowest id): it can differ from PyTorch's float32 choice
// only where the best two codes are closer than float32 resolution.
//
// A Tokenizer is immutable and safe for concurrent use; each call uses its
// own scratch buffers, reused across calls.
package tokenizer
