"""PyTorch twins of Sauron's zoo models (same layers, same state-dict keys), for fixtures
and benchmarks. Used with Debian's python3-torch only; never at run time."""
import torch
import torch.nn as nn
import torch.nn.functional as F

VGG_CFG = {
    'vgg11': [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
    'vgg13': [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
    'vgg16': [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
    'vgg19': [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M'],
}


def scaled(c, width):
    return max(1, round(c * width))


class Normalized(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        c = len(mean)
        self.register_buffer('mean', torch.tensor(mean).view(1, c, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std).view(1, c, 1, 1), persistent=False)

    def normalize(self, x):
        return (x - self.mean) / self.std


class VGG(Normalized):
    def __init__(self, arch, in_ch=3, classes=10, width=1.0, mean=None, std=None):
        super().__init__(mean or [0.0] * in_ch, std or [1.0] * in_ch)
        layers, c = [], in_ch
        for x in VGG_CFG[arch]:
            if x == 'M':
                layers.append(nn.MaxPool2d(2, 2))
            else:
                o = scaled(x, width)
                layers += [nn.Conv2d(c, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]
                c = o
        layers.append(nn.AvgPool2d(1, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, classes)

    def forward(self, x):
        f = self.features(self.normalize(x))
        if f.shape[-1] != 1:
            f = F.adaptive_avg_pool2d(f, 1)
        f = f.flatten(1)
        return self.classifier(f), f


class SmallCNN(Normalized):
    def __init__(self, in_ch=1, classes=10, width=1.0, hw=(28, 28), mean=None, std=None):
        super().__init__(mean or [0.0] * in_ch, std or [1.0] * in_ch)
        c1, c2, hidden = scaled(32, width), scaled(64, width), scaled(256, width)

        def block(i, o):
            return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU()]
        self.features = nn.Sequential(*block(in_ch, c1), *block(c1, c1), nn.MaxPool2d(2),
                                      *block(c1, c2), *block(c2, c2), nn.MaxPool2d(2), nn.Flatten())
        self.fc = nn.Linear(c2 * (hw[0] // 2 // 2) * (hw[1] // 2 // 2), hidden)
        self.classifier = nn.Linear(hidden, classes)

    def forward(self, x):
        f = F.relu(self.fc(self.features(self.normalize(x))))
        return self.classifier(f), f


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, i, planes, stride, short_name):
        super().__init__()
        self.conv1 = nn.Conv2d(i, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.short_name = short_name
        if stride != 1 or i != planes:
            setattr(self, short_name, nn.Sequential(nn.Conv2d(i, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)))
        self.out_ch = planes

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        s = getattr(self, self.short_name, None)
        return F.relu(out + (s(x) if s is not None else x))


class Bottleneck(nn.Module):
    def __init__(self, i, planes, stride, short_name):
        super().__init__()
        o = planes * 4
        self.conv1 = nn.Conv2d(i, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, o, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(o)
        self.short_name = short_name
        if stride != 1 or i != o:
            setattr(self, short_name, nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o)))
        self.out_ch = o

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        s = getattr(self, self.short_name, None)
        return F.relu(h + (s(x) if s is not None else x))


class ResNet(Normalized):
    DEPTHS = {'resnet18': ('basic', [2, 2, 2, 2]), 'resnet34': ('basic', [3, 4, 6, 3]), 'resnet50': ('bottleneck', [3, 4, 6, 3])}

    def __init__(self, arch, in_ch=3, classes=10, width=1.0, mean=None, std=None):
        super().__init__(mean or [0.0] * in_ch, std or [1.0] * in_ch)
        imagenet = arch.endswith('-imagenet')
        kind, depth = self.DEPTHS[arch.replace('-imagenet', '')]
        stem = scaled(64, width)
        self.conv1 = nn.Conv2d(in_ch, stem, 7, 2, 3, bias=False) if imagenet else nn.Conv2d(in_ch, stem, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.maxpool = nn.MaxPool2d(3, 2, 1) if imagenet else None
        c = stem
        short = 'downsample' if imagenet else 'shortcut'
        for li, (planes, n) in enumerate(zip([64, 128, 256, 512], depth)):
            blocks = []
            for b in range(n):
                blk = (BasicBlock if kind == 'basic' else Bottleneck)(c, scaled(planes, width), 2 if b == 0 and li > 0 else 1, short)
                c = blk.out_ch
                blocks.append(blk)
            setattr(self, f'layer{li + 1}', nn.Sequential(*blocks))
        self.classifier = nn.Linear(c, classes)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(self.normalize(x))))
        if self.maxpool is not None:
            h = self.maxpool(h)
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))
        f = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return self.classifier(f), f


def create(arch, in_ch, classes, width=1.0, hw=(32, 32)):
    if arch in VGG_CFG:
        return VGG(arch, in_ch, classes, width)
    if arch == 'small-cnn':
        return SmallCNN(in_ch, classes, width, hw)
    return ResNet(arch, in_ch, classes, width)


def device_helpers(device, precision):
    """(amp, sync) for a benchmark: amp() is the autocast region of the precision ('fp32' makes
    it a no-op), sync() waits for a GPU (a no-op on the CPU)."""
    dev = torch.device(device)
    half = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(precision)

    def amp():
        return torch.autocast(dev.type, dtype=half, enabled=half is not None)

    def sync():
        if dev.type == 'cuda':
            torch.cuda.synchronize(dev)
    return dev, amp, sync
