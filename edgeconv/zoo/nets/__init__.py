"""ImageNet network families as published, written for this project (see ``edgeconv.zoo.families``).

One module per family or group of related families; ``layers`` holds the pieces they share.
"""
