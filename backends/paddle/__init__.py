"""PaddlePaddle (``pip install paddlepaddle``): the paddle backend."""
