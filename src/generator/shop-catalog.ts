/**
 * The shop's dimension tables: users and products, named by faker (seeded) and shaped by the
 * generator's own seeded random numbers. Faker runs a bounded number of times (name pools,
 * brands, book titles), never once per event, so a million users take well under a second.
 *
 * - Users: `user_id` `u000001`…, a full name, a gender (female 49 %, male 45 %, non-binary 1.5 %,
 *   unknown 4.5 %).
 * - Products: `product_id` `p00001`…, a name of the product's category (brand + item + variant;
 *   books by title), a category of {@link CATEGORIES}, a price drawn log-normally around the
 *   category's median with shop-style endings (.99, .49, 5 − 0.01), and a commission rate of the
 *   category ± 0.03 within [0.05, 0.3].
 *
 * How active a user is and how popular a product is are traits of the traffic, drawn by the
 * simulator (`traffic-simulator.ts`), not columns.
 */
// The English locale alone: the package's main entry loads every locale (≈ 0.4 s and 35 MB more).
import { faker } from '@faker-js/faker/locale/en';
import { RandomSource, WeightedTable } from './random-source.ts';

/** A row of `users.csv`. */
export interface GeneratedUser {
  userId: string;
  name: string;
  gender: string;
}

/** A row of `products.csv`. */
export interface GeneratedProduct {
  productId: string;
  productName: string;
  category: string;
  /** In the shop's currency, two decimals. */
  price: number;
  /** In [0.05, 0.3], two decimals. */
  commissionRate: number;
}

/** A category of the catalog, with how its products are priced and named. */
export interface CategorySpec {
  name: string;
  /** Share of the catalog. */
  weight: number;
  /** Median price and log-normal shape. */
  medianPrice: number;
  priceSigma: number;
  /** Typical commission rate (the generator adds ± 0.03). */
  commission: number;
  items: readonly string[];
}

/** The categories of the simulated shop (shares and prices of a general online store). */
export const CATEGORIES: readonly CategorySpec[] = [
  {
    name: 'Electronics',
    weight: 14,
    medianPrice: 59,
    priceSigma: 0.95,
    commission: 0.08,
    items: [
      'Wireless Earbuds',
      'Noise-Cancelling Headphones',
      'Bluetooth Speaker',
      'Smartwatch',
      'Power Bank',
      'USB-C Charger',
      'Webcam',
      'Mechanical Keyboard',
      'Wireless Mouse',
      '27" Monitor',
      'Tablet',
      'Action Camera',
    ],
  },
  {
    name: 'Home & Kitchen',
    weight: 14,
    medianPrice: 32,
    priceSigma: 0.8,
    commission: 0.15,
    items: [
      'Coffee Maker',
      'Blender',
      "Chef's Knife",
      'Non-Stick Frying Pan',
      'Desk Lamp',
      'Electric Kettle',
      'Cutting Board',
      'Air Fryer',
      'Throw Blanket',
      'Storage Baskets',
      'Scented Candle',
    ],
  },
  {
    name: 'Clothing',
    weight: 13,
    medianPrice: 29,
    priceSigma: 0.6,
    commission: 0.17,
    items: ['T-Shirt', 'Hoodie', 'Slim Jeans', 'Sneakers', 'Rain Jacket', 'Summer Dress', 'Wool Socks', 'Chinos'],
  },
  {
    name: 'Beauty & Personal Care',
    weight: 9,
    medianPrice: 18,
    priceSigma: 0.6,
    commission: 0.12,
    items: ['Face Serum', 'Shampoo', 'Moisturizer', 'Lipstick', 'Eau de Parfum', 'Electric Toothbrush', 'Sunscreen'],
  },
  {
    name: 'Sports & Outdoors',
    weight: 8,
    medianPrice: 38,
    priceSigma: 0.85,
    commission: 0.12,
    items: ['Yoga Mat', 'Adjustable Dumbbells', 'Camping Tent', 'Water Bottle', 'Running Shoes', 'Hiking Backpack'],
  },
  {
    name: 'Books',
    weight: 8,
    medianPrice: 14,
    priceSigma: 0.45,
    commission: 0.15,
    items: ['Paperback', 'Hardcover', 'Kindle Edition'],
  },
  {
    name: 'Toys & Games',
    weight: 7,
    medianPrice: 24,
    priceSigma: 0.7,
    commission: 0.15,
    items: ['Board Game', '1000-Piece Puzzle', 'Building Blocks Set', 'Plush Toy', 'Remote Control Car'],
  },
  {
    name: 'Health & Household',
    weight: 6,
    medianPrice: 16,
    priceSigma: 0.55,
    commission: 0.1,
    items: ['Multivitamins', 'Protein Powder', 'Laundry Detergent', 'First Aid Kit', 'Digital Thermometer'],
  },
  {
    name: 'Pet Supplies',
    weight: 5,
    medianPrice: 21,
    priceSigma: 0.7,
    commission: 0.15,
    items: ['Dog Bed', 'Cat Scratching Post', 'Dry Dog Food', 'Leash', 'Cat Litter', 'Chew Toys'],
  },
  {
    name: 'Grocery & Gourmet',
    weight: 5,
    medianPrice: 11,
    priceSigma: 0.5,
    commission: 0.08,
    items: ['Coffee Beans', 'Extra Virgin Olive Oil', 'Green Tea', 'Dark Chocolate', 'Granola', 'Hot Sauce'],
  },
  {
    name: 'Jewelry',
    weight: 4,
    medianPrice: 65,
    priceSigma: 1.0,
    commission: 0.2,
    items: ['Pendant Necklace', 'Stud Earrings', 'Silver Ring', 'Charm Bracelet', 'Watch'],
  },
  {
    name: 'Automotive',
    weight: 3,
    medianPrice: 28,
    priceSigma: 0.8,
    commission: 0.12,
    items: ['Phone Mount', 'Dash Cam', 'Floor Mats', 'Tire Inflator', 'Car Vacuum'],
  },
  {
    name: 'Office Products',
    weight: 2,
    medianPrice: 12,
    priceSigma: 0.6,
    commission: 0.15,
    items: ['Notebook', 'Gel Pen Set', 'Desk Organizer', 'Label Maker', 'Ergonomic Chair'],
  },
  {
    name: 'Garden',
    weight: 2,
    medianPrice: 25,
    priceSigma: 0.75,
    commission: 0.15,
    items: ['Ceramic Plant Pot', 'Garden Hose', 'Pruning Shears', 'Solar Lights', 'Raised Garden Bed'],
  },
];

const VARIANTS = [
  'Pro',
  'Plus',
  'Mini',
  'Max',
  'Classic',
  'Lite',
  'Essential',
  'Deluxe',
  '2-Pack',
  'Eco',
  'XL',
  'Original',
];

/** Genders and their shares (customers of a general online store; unknown when not given). */
export const GENDERS: ReadonlyArray<readonly [string, number]> = [
  ['female', 49],
  ['male', 45],
  ['non-binary', 1.5],
  ['unknown', 4.5],
];

/** `u000123`: at least six digits. */
export function userIdOf(index: number): string {
  return `u${String(index + 1).padStart(6, '0')}`;
}

/** `p00042`: at least five digits. */
export function productIdOf(index: number): string {
  return `p${String(index + 1).padStart(5, '0')}`;
}

/**
 * faker's (shared) English instance, seeded for `stream`: the caller uses it at once, synchronously,
 * so nothing else can draw from it in between. faker's seed is a 32-bit number; one is derived per
 * stream from the generator's own source.
 */
function seededFaker(seed: number, stream: string): typeof faker {
  faker.seed(new RandomSource(seed, `faker/${stream}`).nextU32());
  return faker;
}

/**
 * `count` users, the same for the same seed.
 *
 * @example
 * generateUsers(2, 1);
 * // [{ userId: 'u000001', name: 'Maria Kuhn', gender: 'female' }, { userId: 'u000002', … }]
 */
export function generateUsers(count: number, seed: number): GeneratedUser[] {
  const names = seededFaker(seed, 'users');
  const female = Array.from({ length: 400 }, () => names.person.firstName('female'));
  const male = Array.from({ length: 400 }, () => names.person.firstName('male'));
  const last = Array.from({ length: 800 }, () => names.person.lastName());
  const rng = new RandomSource(seed, 'users');
  const genders = new WeightedTable(GENDERS.map((g) => g[1]));
  const users: GeneratedUser[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const g = genders.pick(rng);
    const gender = GENDERS[g]![0];
    const first = rng.pick(gender === 'female' ? female : gender === 'male' ? male : rng.chance(0.5) ? female : male);
    users[i] = { userId: userIdOf(i), name: `${first} ${rng.pick(last)}`, gender };
  }
  return users;
}

/** Shop-style price endings: 7.99, 24.49, 145 → 144.99. */
function shopPrice(raw: number): number {
  const p = Math.min(Math.max(raw, 1.5), 4999);
  if (p < 100) return Math.floor(p) + (p - Math.floor(p) < 0.5 ? 0.49 : 0.99);
  return Math.round(p / 5) * 5 - 0.01;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/**
 * `count` products, the same for the same seed.
 *
 * @example
 * generateProducts(1, 1);
 * // [{ productId: 'p00001', productName: 'Kuhn Wireless Earbuds Pro', category: 'Electronics', price: 49.99, commissionRate: 0.09 }]
 */
export function generateProducts(count: number, seed: number): GeneratedProduct[] {
  const names = seededFaker(seed, 'products');
  const rng = new RandomSource(seed, 'products');
  const categories = new WeightedTable(CATEGORIES.map((c) => c.weight));
  const brands = CATEGORIES.map(() => Array.from({ length: 8 }, () => names.person.lastName()));
  const products: GeneratedProduct[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const c = categories.pick(rng);
    const spec = CATEGORIES[c]!;
    let productName: string;
    if (spec.name === 'Books') {
      productName = `${names.book.title()} (${rng.pick(spec.items)})`;
    } else {
      const variant = rng.chance(0.45) ? ` ${rng.pick(VARIANTS)}` : '';
      productName = `${rng.pick(brands[c]!)} ${rng.pick(spec.items)}${variant}`;
    }
    const commissionRate = round2(Math.min(0.3, Math.max(0.05, spec.commission + rng.uniform(-0.03, 0.03))));
    products[i] = {
      productId: productIdOf(i),
      productName,
      category: spec.name,
      price: round2(shopPrice(rng.logNormal(spec.medianPrice, spec.priceSigma))),
      commissionRate,
    };
  }
  return products;
}
