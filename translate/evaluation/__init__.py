"""Measuring models: image quality (PSNR/SSIM), generator scores (digits classifier, FID/KID/IS through
Inception), unpaired translation (domain classifier share, cycle L1) and paired translation (L1, PSNR/SSIM,
sharpness against the real photos). Serving never imports this package."""
