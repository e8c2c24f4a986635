"""Our RunPod serverless worker: the handler RunPod calls, its input schema and the model
backends (Qwen-Image-Edit on a GPU, or the local classical engine where there is none).

Importing this package needs no GPU libraries; only the qwen backend imports torch/diffusers,
and only when it is loaded."""
