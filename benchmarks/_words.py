"""Word lists for the benchmark's prompts: the vocabulary of image prompts.

Prompts are built from these lists by :mod:`benchmarks._dataset`: a subject,
perhaps doing something somewhere, then comma-separated modifiers (style,
lighting, camera, quality) until the prompt reaches the length drawn for it.
"""

from __future__ import annotations

__all__ = [
    "ACTIONS",
    "ADJECTIVES",
    "CAMERA",
    "COLOURS",
    "LIGHTING",
    "MATERIALS",
    "QUALITY",
    "RARE_ANIMALS",
    "SETTINGS",
    "STYLES",
    "SUBJECTS",
]


def _split(text: str) -> list[str]:
    """The words of a list written as space-separated lines."""
    return text.split()


def _items(text: str) -> list[str]:
    """The entries of a list written as `|`-separated lines."""
    return [item.strip() for item in text.replace("\n", "|").split("|") if item.strip()]


SUBJECTS = _items("""
cat|dog|fox|owl|wolf|bear|deer|horse|rabbit|tiger|lion|elephant|giraffe|zebra
dragon|phoenix|unicorn|griffin|mermaid|robot|android|cyborg|astronaut|samurai
knight|wizard|witch|pirate|viking|monk|dancer|violinist|pianist|chef|gardener
fisherman|sailor|pilot|explorer|detective|scientist|painter|sculptor|child
grandmother|old man|young woman|warrior|queen|king|princess|prince|emperor
lighthouse|castle|cathedral|temple|pagoda|windmill|bridge|tower|skyscraper
cottage|cabin|treehouse|greenhouse|library|bookstore|cafe|bakery|market|train
tram|bicycle|motorcycle|sports car|vintage car|sailboat|steamship|airship
submarine|spaceship|space station|satellite|rocket|hot air balloon
mountain|volcano|waterfall|glacier|canyon|desert|oasis|island|lagoon|coral reef
forest|jungle|meadow|vineyard|orchard|garden|pond|river|lake|ocean|wave|storm
city street|alley|rooftop|harbour|village|farm|barn|ruins|labyrinth|portal
teapot|clock|lantern|candle|mirror|chessboard|guitar|piano|typewriter|camera
bowl of fruit|bouquet of flowers|sunflower|rose|lotus|cherry blossom|bonsai
mushroom|cactus|oak tree|willow tree|pine tree|maple leaf|feather|shell|crystal
koi fish|jellyfish|octopus|whale|dolphin|turtle|penguin|flamingo|peacock|parrot
hummingbird|butterfly|dragonfly|bee|beetle|snail|frog|chameleon
""")

ADJECTIVES = _split("""
ancient abandoned majestic tiny giant fluffy glowing floating broken golden
silver crystal wooden mechanical steampunk futuristic medieval victorian
mysterious cozy lonely happy grumpy sleepy curious fierce gentle elegant
weathered rusty ornate minimalist colourful monochrome neon frozen burning misty
overgrown enchanted haunted forgotten hidden sacred royal humble cheerful
melancholic serene chaotic peaceful vibrant faded translucent iridescent velvet
paper origami clockwork holographic bioluminescent celestial cosmic
""")

ACTIONS = _items("""
reading a book|drinking tea|playing chess|sleeping|dancing in the rain
flying over the clouds|swimming|running through a field|painting a canvas
looking at the stars|cooking dinner|fishing at dawn|riding a bicycle
sitting on a bench|waiting for a train|exploring ruins|climbing a mountain
singing|laughing|meditating|writing a letter|feeding birds|building a sandcastle
playing the violin|gazing out of a window|walking a dog|surfing a huge wave
hiding behind a tree|holding a lantern|guarding a treasure|casting a spell
""")

SETTINGS = _items("""
in a misty forest|on a snowy mountain|in a neon city at night|on a quiet beach
in a sunflower field|inside an old library|on the surface of the moon
under the sea|in a bustling market|in a japanese garden|on a rainy street
in a desert at sunset|in a cozy kitchen|on a floating island|in a cyberpunk alley
in the clouds|in a candlelit room|at the edge of the universe|in a greenhouse
on a frozen lake|in a medieval village|inside a crystal cave|on a train platform
in an abandoned factory|in a field of lavender|at a busy harbour|in outer space
on a rooftop garden|in a bamboo forest|beside a waterfall|in an autumn park
""")

STYLES = _items("""
oil painting|watercolor|digital art|concept art|studio ghibli style|pixel art
low poly|isometric|art nouveau|art deco|impressionism|ukiyo-e|pop art
charcoal sketch|pencil drawing|ink illustration|children's book illustration
comic book style|anime style|cel shaded|3d render|claymation|papercut
stained glass|mosaic|baroque painting|renaissance painting|surrealism
cubism|vaporwave|synthwave|cyberpunk|solarpunk|steampunk|dark fantasy
high fantasy|film noir|polaroid photo|double exposure|tilt-shift|long exposure
macro photography|street photography|portrait photography|fashion photography
architectural photography|wildlife photography|product shot|movie still
""")

LIGHTING = _items("""
golden hour|blue hour|soft light|dramatic lighting|rim light|volumetric light
god rays|backlit|studio lighting|candlelight|moonlight|neon glow|overcast
harsh shadows|chiaroscuro|cinematic lighting|warm light|cold light|foggy light
bioluminescent glow|sunrise|sunset|twilight|firelight|lightning
""")

CAMERA = _items("""
35mm|50mm lens|85mm portrait lens|wide angle|fisheye|telephoto|shallow depth of field
bokeh|f/1.8|f/8|aerial view|bird's eye view|low angle|close-up|extreme close-up
full body shot|establishing shot|dutch angle|symmetrical composition
rule of thirds|centered composition|kodak portra 400|fujifilm velvia|ilford hp5
shot on film|35mm film grain|anamorphic|8k|4k|high resolution
""")

QUALITY = _items("""
highly detailed|intricate details|masterpiece|best quality|sharp focus
trending on artstation|award winning|ultra realistic|photorealistic|hyperrealistic
octane render|unreal engine|ray tracing|subsurface scattering|detailed textures
beautiful|stunning|epic|breathtaking|whimsical|dreamy|moody|atmospheric
""")

COLOURS = _split("""
red blue green yellow orange purple pink teal turquoise crimson scarlet amber
emerald sapphire indigo violet magenta cyan pastel earthy muted
""")

MATERIALS = _items("""
made of glass|made of paper|made of gold|carved from wood|knitted from wool
made of clouds|made of candy|sculpted in marble|woven from vines|made of lego
""")

# Words that appear in other users' prompts but never in the heavy user's: a
# search for one of them is the case where the user has no match at all while
# the rest of the table has many.
RARE_ANIMALS = ["axolotl", "narwhal", "pangolin", "quokka"]
